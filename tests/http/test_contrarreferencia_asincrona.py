"""A contrarreferencia answers at once and the district's figures follow (issue 21, item 15).

The event and a "district pending" marker commit together (``calculo.distrito_pendiente``);
the app's background worker recomputes the district after the answer, coalesced per
district; a marker left by a killed process is recomputed at the next start-up; the CLI's
`calcular` / `publicar` clear the markers they cover. Expected figures are the stored
ones plus the events the test itself wrote (one delivered CPN = +1 covered, -1 gap).
"""

from __future__ import annotations

import os
import signal
import time
from datetime import date

import psycopg
import pytest

from tests.institucional import Server, clone_database, login, make_users

HOY = date.today().isoformat()
COLUMNS = ["cpn_cubiertos", "cpn_con_oferta"]


@pytest.fixture(scope="module")
def computed(pilotos):
    """The template of this module's databases: each group of tests gets its own copy, so
    no other server's worker drains a marker a test means to see drained by another."""
    from geoportal.pipeline import compute_all

    url = clone_database(pilotos["url"], "asincrona")
    with psycopg.connect(url) as conn:  # live figures without a cut-off, as the referral cycle runs
        compute_all(conn)
    make_users(url)
    return url


@pytest.fixture(scope="module")
def ciclo(computed):
    url = clone_database(computed, "servidor")
    server = Server(url)
    yield {"server": server, "url": url, "mesa": login(server.base, "mesa1116"), "usf": login(server.base, "usf1116")}
    server.stop()


@pytest.fixture(scope="module")
def base(computed):
    """A copy no server runs on: the engine's side, driven in-process."""
    return clone_database(computed, "quieta")


def _counts(url: str, codigo: str = "1116") -> dict:
    with psycopg.connect(url) as conn:
        polygon = conn.execute(
            "SELECT coalesce(codigo_2012, 'D' || codigo) FROM territorio.distrito WHERE codigo = %s", (codigo,)
        ).fetchone()[0]
        row = conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM calculo.agregado WHERE nivel = 'distrito' AND codigo = %s", (polygon,)
        ).fetchone()
    return dict(zip(COLUMNS, row))


def _updates(url: str, codigo: str = "1116") -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM calculo.actualizacion WHERE ambito = %s", (f"distrito {codigo}",)
        ).fetchone()[0]


def _markers(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [d for (d,) in conn.execute("SELECT distrito FROM calculo.distrito_pendiente ORDER BY distrito")]


def _wait_until(check, seconds: float = 120.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("no ocurrió a tiempo")


def _uncovered_cpn(url: str, n: int, codigo: str = "1116") -> list[str]:
    """Pregnant women without CPN and without any event yet (the test writes theirs)."""
    with psycopg.connect(url) as conn:
        return [
            p
            for (p,) in conn.execute(
                "SELECT p.persona_id FROM nominal.persona p JOIN nominal.hogar h USING (hogar_id)"
                " WHERE h.codigo_distrito = %s AND p.embarazada AND NOT ('CPN' = ANY (p.servicios))"
                " AND NOT EXISTS (SELECT 1 FROM nominal.estatus_evento e WHERE e.unidad_id = p.persona_id)"
                " AND NOT EXISTS (SELECT 1 FROM nominal.derivacion d WHERE d.unidad_id = p.persona_id)"
                " ORDER BY p.persona_id LIMIT %s",
                (codigo, n),
            ).fetchall()
        ]


def _in_reach(mesa, persons: list[str]) -> list[str]:
    rows = mesa.get("/api/nominal/brechas", params={"servicio": "CPN", "brecha": "derivacion", "limite": 50_000}).json()
    listed = {r["unidad_id"] for r in rows["filas"]}
    return [p for p in persons if p in listed]


def _event_and_marker(conn, persona: str, codigo: str = "1116") -> None:
    """What a contrarreferencia's transaction commits: the status event and the marker."""
    conn.execute(
        "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
        " VALUES ('persona', %s, 'CPN', true, current_date, 'contrarreferencia:prueba')",
        (persona,),
    )
    conn.execute("SELECT set_config('geoportal.distritos', %s, true)", (codigo,))
    conn.execute("SELECT nominal.marcar_distrito_pendiente(%s)", (codigo,))


def test_a_delivered_contrarreferencia_answers_actualizando_and_the_figures_follow(ciclo):
    mesa, usf, url = ciclo["mesa"], ciclo["usf"], ciclo["url"]
    person = _in_reach(mesa, _uncovered_cpn(url, 40))[0]
    before, updates = _counts(url), _updates(url)
    referral = mesa.post("/api/derivaciones", json={"unidad": "persona", "unidad_id": person, "servicio": "CPN"}).json()

    answer = usf.post(
        f"/api/derivaciones/{referral['derivacion_id']}/contrarreferencia",
        json={"resultado": "entregada", "fecha": HOY},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["actualizando"] is True and body["estado"] == "entregada"
    assert body["recalculo"]["distrito"] == "1116" and body["recalculo"]["actualizando"] is True

    # The Mesa is told when its figures are up to date; then they carry the delivery.
    _wait_until(lambda: mesa.get("/api/derivaciones/estado-calculo").json()["actualizando"] is False)
    assert _counts(url) == {
        "cpn_cubiertos": before["cpn_cubiertos"] + 1,
        "cpn_con_oferta": before["cpn_con_oferta"] - 1,
    }
    assert _updates(url) == updates + 1
    assert _markers(url) == []

    not_located = _in_reach(mesa, _uncovered_cpn(url, 40))[0]
    other = mesa.post(
        "/api/derivaciones", json={"unidad": "persona", "unidad_id": not_located, "servicio": "CPN"}
    ).json()
    answer = usf.post(
        f"/api/derivaciones/{other['derivacion_id']}/contrarreferencia",
        json={"resultado": "no_localizada", "fecha": HOY},
    ).json()
    assert answer == {
        "derivacion_id": other["derivacion_id"],
        "estado": "no_localizada",
        "actualizando": False,
        "recalculo": None,
    }


def test_the_mesa_sees_actualizando_while_its_district_is_pending_and_only_its_own(ciclo):
    url = ciclo["url"]
    with psycopg.connect(url) as conn:  # a marker the worker will not take yet (backing off)
        conn.execute(
            "INSERT INTO calculo.distrito_pendiente (distrito, reintentar) VALUES ('1116', now() + interval '1 hour')"
        )
    try:
        state = ciclo["mesa"].get("/api/derivaciones/estado-calculo")
        assert state.status_code == 200 and state.headers["cache-control"] == "no-store"
        assert state.json()["actualizando"] is True
        assert [d["distrito"] for d in state.json()["distritos"]] == ["1116"]
        other = login(ciclo["server"].base, "mesa0607").get("/api/derivaciones/estado-calculo").json()
        assert other == {"actualizando": False, "distritos": []}
        assert login(ciclo["server"].base, "depto11").get("/api/derivaciones/estado-calculo").json()["actualizando"]
    finally:
        with psycopg.connect(url) as conn:
            conn.execute("DELETE FROM calculo.distrito_pendiente")


def test_a_marker_left_by_a_killed_server_is_recomputed_at_the_next_start_up(computed):
    base = clone_database(computed, "matado")
    server = Server(base)
    os.kill(server.process.pid, signal.SIGKILL)  # kill -9: no shutdown, no drain
    server.process.wait(timeout=10)
    person = _uncovered_cpn(base, 1)[0]
    before, updates = _counts(base), _updates(base)
    with psycopg.connect(base) as conn:  # committed just before the kill, never recomputed
        _event_and_marker(conn, person)
    assert _markers(base) == ["1116"]
    assert _counts(base) == before  # stale until someone recomputes

    again = Server(base)
    try:
        _wait_until(lambda: _markers(base) == [])
        assert _counts(base)["cpn_cubiertos"] == before["cpn_cubiertos"] + 1
        assert _updates(base) == updates + 1
    finally:
        again.stop()


def test_drain_recomputes_each_pending_district_once_however_many_events(base):
    from geoportal.operaciones import drain_pending

    people = _uncovered_cpn(base, 3)
    before, updates = _counts(base), _updates(base)
    with psycopg.connect(base) as conn:
        for person in people:
            _event_and_marker(conn, person)
            conn.commit()
        marca = conn.execute("SELECT marca FROM calculo.distrito_pendiente").fetchall()
        assert len(marca) == 1  # one marker per district, its marca the latest event's
        done = drain_pending(conn)
        assert [d["distrito"] for d in done] == ["1116"] and done[0]["data_version"]
        assert drain_pending(conn) == []
    assert _counts(base)["cpn_cubiertos"] == before["cpn_cubiertos"] + 3
    assert _updates(base) == updates + 1
    assert _markers(base) == []


def test_a_marker_whose_district_got_a_newer_event_is_kept(base):
    from geoportal.operaciones import recompute_district

    person = _uncovered_cpn(base, 1)[0]
    with psycopg.connect(base) as conn:
        _event_and_marker(conn, person)
        conn.commit()
        # A later event bumps the marca while a recompute is on its way: the recompute that
        # read the older marca must leave the marker for the next drain.
        old = conn.execute("SELECT marca FROM calculo.distrito_pendiente WHERE distrito = '1116'").fetchone()[0]
        conn.execute("SELECT set_config('geoportal.distritos', '1116', true)")
        conn.execute("SELECT nominal.marcar_distrito_pendiente('1116')")
        conn.commit()
        conn.execute("DELETE FROM calculo.distrito_pendiente WHERE distrito = '1116' AND marca = %s", (old,))
        conn.commit()
        assert _markers(base) == ["1116"]
        recompute_district(conn, "1116")
    assert _markers(base) == []


def test_calcular_and_publicar_clear_the_markers_they_cover(base):
    from geoportal.operaciones import publish_pending, recompute_country

    first, second = _uncovered_cpn(base, 2)
    before = _counts(base)
    with psycopg.connect(base) as conn:
        _event_and_marker(conn, first)
        conn.commit()
        recompute_country(conn)
    assert _markers(base) == [] and _counts(base)["cpn_cubiertos"] == before["cpn_cubiertos"] + 1
    updates = _updates(base)
    with psycopg.connect(base) as conn:
        _event_and_marker(conn, second)
        conn.commit()
        result = publish_pending(conn, forzar=True)
    assert result["publicada"]
    assert _markers(base) == [] and _counts(base)["cpn_cubiertos"] == before["cpn_cubiertos"] + 2
    assert _updates(base) == updates + 1  # the pending district was recomputed before the release


def test_a_marker_outside_the_sessions_districts_is_refused(base):
    with psycopg.connect(base) as conn:
        conn.execute("SELECT set_config('geoportal.distritos', '0607', true)")
        with pytest.raises(psycopg.Error) as refused:
            conn.execute("SELECT nominal.marcar_distrito_pendiente('1116')")
        assert refused.value.sqlstate == "GP403"
