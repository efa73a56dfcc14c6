"""Recomputing a district goes the same way whichever door asked for it: the CLI
(``geoportal calcular --distrito``) and the API (a delivered contrarreferencia) both call
``geoportal.operaciones.recompute_district``, under the writers' lock and between two
snapshots of the live figures, so the alerts they leave are the same."""

from __future__ import annotations

import psycopg
import pytest

from institucional import clone_database

DISTRITO = "1116"
# Every person of the district without an identity card, as a register would report it:
# the district's, its department's and the country's CEDULA coverage fall.
SIN_CEDULA = ("INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
              " SELECT 'persona', p.persona_id, 'CEDULA', false, current_date, %s FROM nominal.persona p"
              " JOIN nominal.hogar h ON h.hogar_id = p.hogar_id WHERE h.codigo_distrito = %s")


@pytest.fixture(scope="module")
def base(pilotos):
    return clone_database(pilotos["url"], "operaciones")


@pytest.fixture
def en_base(base):
    """Settings pointed at the copy, for both doors (they read GEOPORTAL_DATABASE_URL)."""
    from geoportal.settings import get_settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEOPORTAL_DATABASE_URL", base)
        get_settings.cache_clear()
        yield base
    get_settings.cache_clear()


def _cli(distrito: str) -> None:
    from typer.testing import CliRunner

    from geoportal.cli import app

    result = CliRunner().invoke(app, ["calcular", "--distrito", distrito])
    assert result.exit_code == 0, result.output


def _api(distrito: str) -> None:
    from api.institucional.derivaciones import recompute

    assert recompute(distrito)["data_version"]


def _worse(url: str) -> list[tuple]:
    from geoportal.alertas import compute_alerts

    with psycopg.connect(url) as conn:
        return sorted((a["nivel"], a["codigo"], a["columna"], a["valor"], a["referencia"])
                      for a in compute_alerts(conn, 5.0) if a["tipo"] == "empeora")


def test_the_cli_and_the_api_recompute_leave_the_same_alerts(en_base):
    _api(DISTRITO)  # the district as either door computes it (no cut-off date), before any change
    seen = {}
    for name, door in (("cli", _cli), ("api", _api)):
        with psycopg.connect(en_base) as conn:
            conn.execute(SIN_CEDULA, (f"prueba:{name}", DISTRITO))
        door(DISTRITO)
        fell = _worse(en_base)
        door(DISTRITO)  # nothing changed since the last recompute: nothing got worse
        still = _worse(en_base)
        with psycopg.connect(en_base) as conn:
            conn.execute("DELETE FROM nominal.estatus_evento WHERE fuente = %s", (f"prueba:{name}",))
        door(DISTRITO)  # back where it started, for the other door
        seen[name] = (fell, still)
    assert any(column == "cedula_pct" for _, _, column, _, _ in seen["cli"][0])
    assert seen["cli"] == seen["api"]
    assert seen["cli"][1] == []
