"""Production: generation models (pvlib, windpowerlib), dispatchable units, verification."""
