"""HTTP API (FastAPI routes and schemas)."""
