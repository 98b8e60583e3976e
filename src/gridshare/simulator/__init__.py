"""The community simulator: a scenario file becomes a simulated clock and meter source
that drive the very same pipeline as live operation."""
