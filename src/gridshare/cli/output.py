"""Where every command prints: the console, the error console, and the exit on an error."""

from __future__ import annotations

import typer
from rich.console import Console

from gridshare.errors import GridshareError

console = Console()
errors = Console(stderr=True)


def fail(exc: GridshareError) -> typer.Exit:
    """Print ``exc`` in red on stderr; return the exit (code 2) for the caller to raise."""
    errors.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
    return typer.Exit(code=2)
