"""The ``geoportal`` command line (typer). User-facing text is Spanish."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from geoportal.settings import get_settings

app = typer.Typer(help="Geoportal del Sistema de Protección Social «Vamos!».", no_args_is_help=True)
db_app = typer.Typer(help="Base de datos PostGIS (clúster embebido o GEOPORTAL_DATABASE_URL).", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()


def _fail(message: str) -> None:
    console.print(f"[bold red]Error:[/] {message}")
    raise typer.Exit(code=1)


@db_app.command("up")
def db_up() -> None:
    """Inicia el clúster embebido (si corresponde) y aplica las migraciones."""
    from geoportal import migrate
    from geoportal.cluster import ClusterError

    settings = get_settings()
    try:
        migrate.upgrade(settings)
    except ClusterError as exc:
        _fail(str(exc))
    where = "GEOPORTAL_DATABASE_URL" if settings.database_url else f"clúster embebido en 127.0.0.1:{settings.pg_port}"
    console.print(f"[green]Base de datos lista[/] ({where}).")


@db_app.command("down")
def db_down() -> None:
    """Detiene el clúster embebido."""
    from geoportal.db import embedded_cluster

    if get_settings().database_url:
        _fail("GEOPORTAL_DATABASE_URL está definida: el geoportal no administra ese servidor.")
    embedded_cluster().stop()
    console.print("Clúster embebido detenido.")


@db_app.command("status")
def db_status() -> None:
    """Muestra el estado de la base de datos y cuántas filas tiene cada tabla principal."""
    import psycopg

    from geoportal.db import database_url, embedded_cluster

    settings = get_settings()
    if not settings.database_url:
        cluster = embedded_cluster(settings)
        state = "en marcha" if cluster.running() else ("detenido" if cluster.initialized() else "sin crear")
        console.print(f"Clúster embebido: {state} (datos en {cluster.data_dir}, puerto {settings.pg_port})")
        if state != "en marcha":
            return
    try:
        with psycopg.connect(database_url(settings, start=False)) as conn:
            for table in ("territorio.distrito", "oferta.punto_entrega", "nominal.hogar", "nominal.persona"):
                try:
                    n = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    console.print(f"  {table}: {n:,}".replace(",", "."))
                except psycopg.errors.UndefinedTable:
                    conn.rollback()
                    console.print(f"  {table}: (sin migrar; ejecute `geoportal db up`)")
    except psycopg.OperationalError as exc:
        _fail(f"No se pudo conectar a la base de datos: {exc}")


@db_app.command("reset")
def db_reset(si: bool = typer.Option(False, "--si", help="Confirma sin preguntar.")) -> None:
    """Borra TODOS los datos y recrea el esquema vacío."""
    from geoportal import migrate

    if not si and not typer.confirm("Se borrarán todos los datos del geoportal. ¿Continuar?"):
        raise typer.Exit(code=1)
    migrate.downgrade_all()
    migrate.upgrade()
    console.print("[green]Esquema recreado vacío.[/]")


@app.command("demo")
def demo() -> None:
    """Prepara todo (base, territorio, catálogo, datos sintéticos) y sirve el geoportal."""
    db_up()
    servir(host=None, port=None)


@app.command("servir")
def servir(
    host: str = typer.Option(None, help="Dirección de escucha (por defecto 127.0.0.1)."),
    port: int = typer.Option(None, help="Puerto (por defecto 8000)."),
) -> None:
    """Inicia la API y el visor web."""
    import uvicorn

    settings = get_settings()
    uvicorn.run("api.app:create_app", factory=True, host=host or settings.api_host, port=port or settings.api_port)


if __name__ == "__main__":
    app()
