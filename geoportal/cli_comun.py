"""What every ``geoportal`` command module shares: the console and the way to fail."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console()


def fail(message: str) -> None:
    """Print a Spanish error and end the command with exit code 1."""
    console.print(f"[bold red]Error:[/] {message}")
    raise typer.Exit(code=1)
