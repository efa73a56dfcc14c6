"""``geoportal ingestar …``: FIPS households and persons, delivery points and administrative
records from CSV, GeoJSON or GeoPackage, every row loaded or quarantined with its reason
(``geoportal.ingest``). User-facing text is Spanish."""

from __future__ import annotations

from pathlib import Path

import typer

from geoportal.cli_comun import console, run_with_bar
from geoportal.cli_comun import fail as _fail
from geoportal.cli_comun import quiet_psycopg as _quiet_psycopg

ingestar_app = typer.Typer(
    help="Carga archivos FIPS, de puntos y registros administrativos (CSV, GeoJSON, GeoPackage) con cuarentena.",
    no_args_is_help=True,
)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def ingest(path: Path, kind: str):
    """Load ``path`` as ``kind`` under a progress bar and print its report; a bad file or a
    database that fails ends the command (exit 1) with nothing loaded."""
    import psycopg

    from geoportal.cluster import ClusterError
    from geoportal.db import database_url
    from geoportal.ingest import FileError, ingest_file

    _quiet_psycopg()
    try:
        conn = psycopg.connect(database_url())
    except ClusterError as exc:
        _fail(f"{_sentence(str(exc))} No se cargó ninguna fila.")
    except psycopg.OperationalError:
        _fail(
            "No se pudo conectar a la base de datos; no se cargó ninguna fila. "
            "Revise GEOPORTAL_DATABASE_URL o ejecute `geoportal db up`."
        )
    try:
        with conn:
            report = run_with_bar(f"Ingesta de {kind}", lambda cb: ingest_file(path, kind, conn, progress=cb))
    except FileError as exc:
        _fail(f"{_sentence(str(exc))} No se cargó ninguna fila.")
    except psycopg.OperationalError:
        _fail(
            "Se perdió la conexión con la base de datos durante la carga; la transacción se deshizo "
            "y no se cargó ninguna fila. Revise que la base esté en marcha (`geoportal db status`) "
            "y vuelva a intentarlo."
        )
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _fail(f"La base de datos rechazó la carga ({first_line}); se deshizo todo el lote, no se cargó ninguna fila.")
    fmt = lambda n: f"{n:,}".replace(",", ".")
    if report.ya_cargado:
        console.print(f"[yellow]Este archivo ya se cargó (lote {report.lote_id}); no se cambió nada.[/]")
    console.print(
        f"{path.name}: leídas {fmt(report.leidas)} = nuevas {fmt(report.nuevas)} + actualizadas "
        f"{fmt(report.actualizadas)} + sin cambio {fmt(report.sin_cambio)} + cuarentena {fmt(report.cuarentena)}"
    )
    for motivo, n in sorted(report.motivos.items(), key=lambda kv: -kv[1]):
        console.print(f"  cuarentena · {motivo}: {fmt(n)}")
    if report.cuarentena:
        console.print(f"  Detalle por fila: tabla nominal.cuarentena, lote {report.lote_id}.")
    if report.sin_unidad:
        console.print(
            f"  Aviso: {fmt(report.sin_unidad)} registros de unidades aún no cargadas; cuentan cuando se carguen."
        )
    return report


@ingestar_app.command("hogares")
def ingestar_hogares(archivo: Path = typer.Argument(..., help="CSV, GeoJSON o GeoPackage de hogares FIPS.")) -> None:
    """Carga hogares FIPS (ver docs/FORMATOS.md)."""
    ingest(archivo, "hogares")


@ingestar_app.command("personas")
def ingestar_personas(archivo: Path = typer.Argument(..., help="CSV, GeoJSON o GeoPackage de personas FIPS.")) -> None:
    """Carga personas FIPS; sus hogares deben estar cargados."""
    ingest(archivo, "personas")


@ingestar_app.command("registros")
def ingestar_registros(
    archivo: Path = typer.Argument(
        ..., help="CSV de registros administrativos (unidad, servicio, estatus, fecha, fuente)."
    ),
) -> None:
    """Carga registros administrativos de estatus (ver docs/FORMATOS.md); valen desde el próximo `calcular`."""
    ingest(archivo, "registros")


@ingestar_app.command("puntos")
def ingestar_puntos(
    archivo: Path = typer.Argument(..., help="CSV, GeoJSON o GeoPackage de puntos de entrega."),
) -> None:
    """Carga puntos de entrega de servicios."""
    ingest(archivo, "puntos")
