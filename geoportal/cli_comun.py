"""What every ``geoportal`` command module shares: the console, the way to fail, and the
application class that turns a lost database connection into one Spanish line."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

console = Console()

BASE_PERDIDA = (
    "Error: se perdió la conexión con la base de datos (el servidor se detuvo o terminó esta sesión); "
    "vuelva a ejecutar el comando cuando esté disponible (`geoportal db status` lo muestra)."
)


def fail(message: str) -> None:
    """Print a Spanish error and end the command with exit code 1."""
    console.print(f"[bold red]Error:[/] {message}")
    raise typer.Exit(code=1)


def base_perdida(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is a lost or refused database connection."""
    import psycopg

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
            return True
        if type(exc).__module__.startswith("sqlalchemy") and type(exc).__name__ == "OperationalError":
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class Aplicacion(typer.Typer):
    """The command line's root: a command whose database connection is lost (``geoportal db
    down``, a terminated backend, a server restart) ends with one Spanish line and exit
    code 1, never a Python traceback; any other error is shown as Typer shows it."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if not base_perdida(exc):
                raise
            print(BASE_PERDIDA, file=sys.stderr)
            raise SystemExit(1) from None


def quiet_psycopg() -> None:
    """psycopg logs English warnings (e.g. a failed rollback on a lost connection) that
    would print beside our Spanish error: the error we print says all the user needs."""
    import logging

    logger = logging.getLogger("psycopg")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False


def progress():
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def run_with_bar(title: str, work):
    """Run ``work(callback)`` under a progress bar; the callback takes (stage, fraction)."""
    with progress() as bar:
        task = bar.add_task(title, total=1.0)

        def callback(stage: str, fraction: float) -> None:
            bar.update(task, completed=fraction, description=f"{title}: {stage}")

        result = work(callback)
        bar.update(task, completed=1.0, description=title)
    return result
