"""Recomputing a district goes the same way whichever door asked for it: the CLI
(``geoportal calcular --distrito``) and the API (a delivered contrarreferencia, drained by the
app's background worker) both call
``geoportal.operaciones.recompute_district``, under the writers' lock and between two
snapshots of the live figures, so the alerts they leave are the same."""

from __future__ import annotations

from contextlib import contextmanager

import psycopg
import pytest

from tests.conftest import FECHA_CORTE
from tests.institucional import clone_database

DISTRITO = "1116"
# Every person of the district without an identity card, as a register would report it on
# the pilots' cut-off (a district update counts events up to the cut-off in force): the
# district's, its department's and the country's CEDULA coverage fall.
SIN_CEDULA = (
    "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
    " SELECT 'persona', p.persona_id, 'CEDULA', false, %s, %s FROM nominal.persona p"
    " JOIN nominal.hogar h ON h.hogar_id = p.hogar_id WHERE h.codigo_distrito = %s"
)


@contextmanager
def _settings_on(url: str):
    """Settings pointed at ``url`` for both doors (they read GEOPORTAL_DATABASE_URL)."""
    from geoportal.settings import get_settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEOPORTAL_DATABASE_URL", url)
        get_settings.cache_clear()
        try:
            yield url
        finally:
            get_settings.cache_clear()
    get_settings.cache_clear()


def _cli(distrito: str) -> None:
    from typer.testing import CliRunner

    from geoportal.cli import app

    result = CliRunner().invoke(app, ["calcular", "--distrito", distrito])
    assert result.exit_code == 0, result.output


def _api(distrito: str) -> None:
    """The API's door: a contrarreferencia marks the district pending, and the app's
    background worker drains it (``atender_pendientes`` runs this very step)."""
    from geoportal.db import database_url
    from geoportal.operaciones import _drain_on_own_connection
    from tiles.publicacion import preparar_publicacion

    url = database_url(start=False)
    with psycopg.connect(url) as conn:
        conn.execute("SELECT set_config('geoportal.distritos', %s, true)", (distrito,))
        conn.execute("SELECT nominal.marcar_distrito_pendiente(%s)", (distrito,))
    done = _drain_on_own_connection(url, preparar_publicacion)
    assert [d["distrito"] for d in done] == [distrito] and done[0]["data_version"]


def _worse(url: str) -> list[tuple]:
    from geoportal.alertas import compute_alerts

    with psycopg.connect(url) as conn:
        return sorted(
            (a["nivel"], a["codigo"], a["columna"], a["valor"], a["referencia"])
            for a in compute_alerts(conn, 5.0)
            if a["tipo"] == "empeora"
        )


def test_the_cli_and_the_api_recompute_leave_the_same_alerts(pilotos):
    # The same change on two identical copies of the database, one recomputed through each door.
    seen = {}
    for name, door in (("cli", _cli), ("api", _api)):
        with _settings_on(clone_database(pilotos["url"], f"puerta_{name}")) as url:
            with psycopg.connect(url) as conn:
                conn.execute(SIN_CEDULA, (FECHA_CORTE, "prueba:sin_cedula", DISTRITO))
            door(DISTRITO)
            seen[name] = _worse(url)
    assert any(column == "cedula_pct" for _, _, column, _, _ in seen["api"])
    assert seen["cli"] == seen["api"]
