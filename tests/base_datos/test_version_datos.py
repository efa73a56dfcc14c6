"""data_version identifies the data.

Two loads with the same number of batches and events but other content (a partial
survey of the same households, one changed birth date) published the same version;
publico.version.parametros told how many events and batches each release had. Now the
version hashes the rows the computation reads: other data, other version; the same data
loaded again (another database, other file order, other load times), the same version;
and the published parameters carry only a keyed hash of the data.
"""

from __future__ import annotations

import json
import re
from datetime import date

import psycopg
import pytest

from tests.conftest import load_hand_fixture
from tests.http.test_corte import HOUSEHOLDS, PERSONS, A

CUT = date(2026, 1, 1)
EVENT = ("persona", "P5", "USF_ADSCRIPCION", True, "2025-05-01", "registro de prueba")


def _version(make_database, tmp_path, name, households=HOUSEHOLDS, persons=PERSONS, events=()) -> tuple[str, dict, str]:
    from geoportal.pipeline import compute_all

    url = make_database(name)
    folder = tmp_path / name
    folder.mkdir()
    load_hand_fixture(
        url,
        folder,
        points=[["A", "usf", "USF de prueba", "urbana", 5, A[1], A[0], "sintetico"]],
        households=[
            [h, "1116", loc, "urbana", fecha, lat, lon, srv, "sintetico"] for h, lon, lat, loc, fecha, srv in households
        ],
        persons=[
            [p, h, "Nombre", "Apellido", sex, born, "no", "no", "no", srv, "sintetico"]
            for p, h, sex, born, srv in persons
        ],
        cut=CUT,
    )
    with psycopg.connect(url) as conn:
        for event in events:
            conn.execute(
                "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                event,
            )
        conn.commit()
        result = compute_all(conn, fecha_corte=CUT)
        parametros = conn.execute("SELECT parametros FROM publico.version WHERE vigente").fetchone()[0]
    return result["data_version"], parametros, url


@pytest.fixture(scope="module")
def versions(make_database, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("versiones_datos")
    older = [(p, h, s, "1981-01-01" if p == "P5" else b, srv) for p, h, s, b, srv in PERSONS]
    partial = [h for h in HOUSEHOLDS if h[0] != "H2"]
    return {
        "base": _version(make_database, tmp, "vd_base", events=[EVENT]),
        # The same rows in another order, loaded into another database at another time.
        "otra_vez": _version(make_database, tmp, "vd_otra_vez", HOUSEHOLDS[::-1], PERSONS[::-1], events=[EVENT]),
        # Same batches, same number of rows and events: one birth date differs.
        "otra_fecha": _version(make_database, tmp, "vd_otra_fecha", persons=older, events=[EVENT]),
        # A partial survey of the same households: same batches, same number of events.
        "parcial": _version(
            make_database, tmp, "vd_parcial", partial, [p for p in PERSONS if p[1] != "H2"], events=[EVENT]
        ),
        # The same event, but not covered.
        "otro_evento": _version(make_database, tmp, "vd_otro_evento", events=[EVENT[:3] + (False,) + EVENT[4:]]),
    }


def test_other_data_other_version_and_the_same_data_the_same_version(versions):
    v = {name: version for name, (version, _, _) in versions.items()}
    assert v["otra_vez"] == v["base"]
    assert len({v["base"], v["otra_fecha"], v["parcial"], v["otro_evento"]}) == 4, v


def test_the_published_parameters_count_nothing(versions):
    for name, (_, parametros, _) in versions.items():
        assert set(parametros["datos"]) == {"huella"}, name
        assert re.fullmatch(r"[0-9a-f]{16}", parametros["datos"]["huella"]), name
        text = json.dumps(parametros)
        for word in ("lote", "evento", "ultimo"):
            assert word not in text, (name, word)
    # Data that differs only in content differs only in the keyed hash.
    base, other = versions["base"][1], versions["otro_evento"][1]
    assert {k: val for k, val in base.items() if k != "datos"} == {k: val for k, val in other.items() if k != "datos"}


def test_a_district_update_changes_the_version_exactly_when_its_data_changes(versions):
    """However the aggregates were reached (national run, district updates), the same data
    has the same version, and other data another one."""
    from geoportal.actualizacion import compute_district
    from geoportal.pipeline import compute_all

    national, _, url = versions["base"]
    with psycopg.connect(url) as conn:
        assert compute_district(conn, "1116")["data_version"] == national  # nothing changed
        conn.execute("UPDATE nominal.persona SET fecha_nacimiento = '1979-12-31' WHERE persona_id = 'P5'")
        conn.commit()
        changed = compute_district(conn, "1116")["data_version"]
        assert changed != national
        assert compute_all(conn, fecha_corte=CUT)["data_version"] == changed  # the same data, computed in full
        conn.execute("UPDATE nominal.persona SET fecha_nacimiento = '1980-01-01' WHERE persona_id = 'P5'")
        conn.commit()
        assert compute_district(conn, "1116")["data_version"] == national  # back to the same data
        assert conn.execute("SELECT ambito FROM calculo.huella").fetchall() == [("1116",)]  # one per district with data


def test_the_services_lists_count_in_the_version(versions):
    """A person's or a household's list of services received changes the version, and the
    same lists give it back (the lists are hashed as the computation reads them)."""
    from geoportal.actualizacion import compute_district

    national, _, url = versions["base"]
    with psycopg.connect(url) as conn:
        assert compute_district(conn, "1116")["data_version"] == national
        for table, key, unit in (("persona", "persona_id", "P5"), ("hogar", "hogar_id", "H1")):
            before = conn.execute(f"SELECT servicios FROM nominal.{table} WHERE {key} = %s", (unit,)).fetchone()[0]
            conn.execute(f"UPDATE nominal.{table} SET servicios = %s WHERE {key} = %s", ([*before, "OTRO"], unit))
            conn.commit()
            assert compute_district(conn, "1116")["data_version"] != national, table
            conn.execute(f"UPDATE nominal.{table} SET servicios = %s WHERE {key} = %s", (before, unit))
            conn.commit()
            assert compute_district(conn, "1116")["data_version"] == national, table
