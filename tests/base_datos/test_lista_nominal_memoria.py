"""The Mesa's nominal list keeps a district's computed state in the API process
(geoportal/lista_nominal.py): it must never hand it to a session the database would not show those
rows to, and must drop it as soon as the district's data change."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url

from geoportal import lista_nominal as nominal
from geoportal.roles import NOMINAL_ROLE, role_password
from tests.institucional import clone_database


@pytest.fixture(scope="module")
def urls(pilotos):
    owner = clone_database(pilotos["url"], "memoria")
    api = (
        make_url(owner)
        .set(username=NOMINAL_ROLE, password=role_password(NOMINAL_ROLE))
        .render_as_string(hide_password=False)
    )
    return owner, api


def _gaps(url: str, scope: str, distrito: str, **filtros) -> nominal.Gaps:
    with psycopg.connect(url) as conn:
        conn.execute(
            "SELECT set_config('geoportal.distritos', %s, true), set_config('geoportal.institucion', '*', true)",
            (scope,),
        )
        return nominal.gaps(conn, distrito, nominal.FiltrosLista(paquete=None, **filtros))


def test_a_cached_district_is_not_served_to_a_session_scoped_to_another(urls):
    _, api = urls
    nominal.STATES.data.clear()
    own = _gaps(api, "1116", "1116")
    assert own.total > 1000 and len(nominal.STATES.data) == 1
    # A handler bug asking for 1116 in a session of 0607: the database shows nothing, so does the cache.
    wrong = _gaps(api, "0607", "1116")
    assert wrong.total == 0 and wrong.rows() == []
    assert _gaps(api, "", "1116").total == 0  # no scope at all


def test_the_cached_state_gives_the_same_rows_as_a_fresh_computation(urls):
    _, api = urls
    nominal.STATES.data.clear()
    fresh = _gaps(api, "1116", "1116", servicio="CPN").rows()
    cached = _gaps(api, "1116", "1116", servicio="CPN").rows()
    assert fresh == cached and len(fresh) > 10
    nominal.STATES.data.clear()
    place = fresh[0]["localidad"]
    by_place = _gaps(api, "1116", "1116", localidad=place).rows()
    assert by_place and {r["localidad"] for r in by_place} == {place}


def test_a_new_status_event_or_load_changes_the_list_at_once(urls):
    owner, api = urls
    nominal.STATES.data.clear()
    before = _gaps(api, "1116", "1116", servicio="CPN")
    target = before.rows(0, 1)[0]
    assert before.find("CPN", target["unidad_id"]) is not None
    with psycopg.connect(owner) as conn:
        conn.execute(
            "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
            " VALUES ('persona', %s, 'CPN', true, current_date, 'prueba:memoria')",
            (target["unidad_id"],),
        )
    after = _gaps(api, "1116", "1116", servicio="CPN")
    assert after.find("CPN", target["unidad_id"]) is None and after.total == before.total - 1
    # A load (new ingest batch) changes the key too: the next read recomputes.
    keys = set(nominal.STATES.data)
    with psycopg.connect(owner) as conn:
        conn.execute(
            "INSERT INTO nominal.lote_ingesta (tipo, archivo, sha256, filas_leidas, filas_nuevas,"
            " filas_actualizadas, filas_sin_cambio, filas_cuarentena) VALUES ('personas', 'x.csv', 'x',"
            " 0, 0, 0, 0, 0)"
        )
    _gaps(api, "1116", "1116", servicio="CPN")
    assert set(nominal.STATES.data) != keys and len(nominal.STATES.data) == 1  # the stale entry was dropped
