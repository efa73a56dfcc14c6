"""Status events carry their unit's district (migration 0009), whoever writes them, and
district updates from two sessions at once never lose one another's change.

Expected districts are read straight from nominal.hogar in the test (the unit's own
row), never from the trigger's function."""

from __future__ import annotations

import threading

import numpy as np
import psycopg
import pytest

from tests.institucional import clone_database


@pytest.fixture(scope="module")
def base(pilotos):
    return clone_database(pilotos["url"], "eventos")


def _household_with_members(conn, distrito: str, skip: int = 0) -> tuple[str, list[str]]:
    hogar = conn.execute(
        "SELECT h.hogar_id FROM nominal.hogar h WHERE h.codigo_distrito = %s"
        " AND (SELECT count(*) FROM nominal.persona p WHERE p.hogar_id = h.hogar_id) >= 2"
        " ORDER BY h.hogar_id OFFSET %s LIMIT 1",
        (distrito, skip),
    ).fetchone()[0]
    members = [
        r[0]
        for r in conn.execute(
            "SELECT persona_id FROM nominal.persona WHERE hogar_id = %s ORDER BY persona_id", (hogar,)
        ).fetchall()
    ]
    return hogar, members


def _event(conn, unidad: str, unidad_id: str, fuente: str) -> int:
    return conn.execute(
        "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
        " VALUES (%s, %s, 'CPN', true, '2025-06-01', %s) RETURNING evento_id",
        (unidad, unidad_id, fuente),
    ).fetchone()[0]


def _district_of_event(conn, evento_id: int) -> str | None:
    return conn.execute(
        "SELECT codigo_distrito FROM nominal.estatus_evento WHERE evento_id = %s", (evento_id,)
    ).fetchone()[0]


def test_an_event_takes_its_units_district_and_follows_a_move(base):
    with psycopg.connect(base) as conn:
        hogar, (first, second, *_) = _household_with_members(conn, "1116")
        on_home = _event(conn, "hogar", hogar, "prueba:hogar")
        on_first = _event(conn, "persona", first, "prueba:persona")
        on_second = _event(conn, "persona", second, "prueba:persona")
        assert {_district_of_event(conn, e) for e in (on_home, on_first, on_second)} == {"1116"}

        # The household is re-surveyed in another district: its events and its members' follow.
        conn.execute(
            "UPDATE nominal.hogar SET codigo_distrito = '0607', codigo_2012 = NULL WHERE hogar_id = %s", (hogar,)
        )
        moved_to = conn.execute("SELECT codigo_distrito FROM nominal.hogar WHERE hogar_id = %s", (hogar,)).fetchone()[0]
        assert [_district_of_event(conn, e) for e in (on_home, on_first, on_second)] == [moved_to] * 3 == ["0607"] * 3

        # One member moves to a household of a third district: only that member's event follows.
        other_home, _ = _household_with_members(conn, "1602")
        target = conn.execute(
            "SELECT codigo_distrito FROM nominal.hogar WHERE hogar_id = %s", (other_home,)
        ).fetchone()[0]
        conn.execute("UPDATE nominal.persona SET hogar_id = %s WHERE persona_id = %s", (other_home, first))
        assert _district_of_event(conn, on_first) == target != "0607"
        assert _district_of_event(conn, on_second) == "0607"
        conn.rollback()


def test_an_event_that_arrives_before_its_unit_gets_the_district_when_the_unit_is_loaded(base):
    with psycopg.connect(base) as conn:
        early = _event(conn, "persona", "P-TODAVIA-NO-CARGADA", "prueba:anticipado")
        assert _district_of_event(conn, early) is None
        hogar, _ = _household_with_members(conn, "1116")
        conn.execute(
            "INSERT INTO nominal.persona (persona_id, hogar_id, nombres, apellidos, sexo, fecha_nacimiento, origen,"
            " lote_id) SELECT 'P-TODAVIA-NO-CARGADA', %s, 'Ana', 'Prueba', 'F', '1990-01-01', 'sintetico', lote_id"
            " FROM nominal.hogar WHERE hogar_id = %s",
            (hogar, hogar),
        )
        assert _district_of_event(conn, early) == "1116"
        conn.rollback()


def test_the_api_role_sees_exactly_the_events_of_units_in_its_district(base):
    with psycopg.connect(base) as conn:
        for distrito in ("1116", "0607"):
            hogar, members = _household_with_members(conn, distrito)
            _event(conn, "hogar", hogar, "prueba:rls")
            _event(conn, "persona", members[0], "prueba:rls")
        conn.commit()
        own = {
            r[0]
            for r in conn.execute(
                "SELECT e.evento_id FROM nominal.estatus_evento e"
                " LEFT JOIN nominal.persona p ON e.unidad = 'persona' AND p.persona_id = e.unidad_id"
                " JOIN nominal.hogar h ON h.hogar_id = CASE e.unidad WHEN 'hogar' THEN e.unidad_id ELSE p.hogar_id END"
                " WHERE h.codigo_distrito = '1116'"
            ).fetchall()
        }
        conn.execute("SET ROLE geoportal_nominal")
        conn.execute(
            "SELECT set_config('geoportal.distritos', '1116', true), set_config('geoportal.institucion', '*', true)"
        )
        seen = {r[0] for r in conn.execute("SELECT evento_id FROM nominal.estatus_evento").fetchall()}
        assert own and seen == own
        conn.rollback()
        conn.execute("SET ROLE geoportal_nominal")
        assert conn.execute("SELECT count(*) FROM nominal.estatus_evento").fetchone()[0] == 0  # nothing set: nothing
        conn.rollback()


def test_two_district_updates_at_once_both_count_in_the_country_row(base):
    from geoportal.actualizacion import compute_district

    with psycopg.connect(base) as conn:
        for distrito in ("1116", "0607"):
            _, members = _household_with_members(conn, distrito, skip=3)
            conn.execute(
                "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
                " SELECT 'persona', %s, 'USF_ADSCRIPCION', NOT ('USF_ADSCRIPCION' = ANY (servicios)),"
                " '2025-12-01', 'prueba:concurrente' FROM nominal.persona WHERE persona_id = %s",
                (members[0], members[0]),
            )
        conn.commit()
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def update(distrito: str) -> None:
        try:
            with psycopg.connect(base) as own:
                barrier.wait()
                compute_district(own, distrito)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=update, args=(d,)) for d in ("1116", "0607")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with psycopg.connect(base) as conn:
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'calculo'"
                " AND table_name = 'agregado' AND data_type IN ('bigint', 'integer') ORDER BY ordinal_position"
            ).fetchall()
        ]
        select = ", ".join(f'"{c}"' for c in columns)
        country = np.array(conn.execute(f"SELECT {select} FROM calculo.agregado WHERE nivel = 'pais'").fetchall())
        departments = np.array(
            conn.execute(f"SELECT {select} FROM calculo.agregado WHERE nivel = 'departamento'").fetchall()
        )
        fine_households = conn.execute("SELECT sum(hogares) FROM calculo.contribucion").fetchone()[0]
    assert len(country) == 1
    # The country row is the sum of the departments' rows, which each update touched alone.
    np.testing.assert_array_equal(country[0], departments.sum(axis=0))
    assert country[0][columns.index("hogares")] == fine_households


def _live_rows(conn) -> dict[tuple[str, str], tuple[str, str, bool]]:
    """(nivel, codigo) -> (xmin: changes when the row is rewritten, what it shows, has a geometry)."""
    rows = conn.execute(
        "SELECT nivel, codigo, xmin::text, (to_jsonb(t) - 'data_version' - 'huella' - 'geom')::text,"
        " geom IS NOT NULL FROM calculo.cobertura_viva t"
    ).fetchall()
    return {(n, c): (x, shown, geom) for n, c, x, shown, geom in rows}


def test_a_district_update_rewrites_only_the_live_rows_that_changed(base):
    from geoportal.actualizacion import compute_district

    with psycopg.connect(base) as conn:
        polygon, dpto = conn.execute(
            "SELECT coalesce(codigo_2012, codigo), dpto FROM territorio.distrito WHERE codigo = '0607'"
        ).fetchone()
        territories = {("distrito", polygon), ("departamento", dpto), ("pais", "PY")}
        compute_district(conn, "0607")
        # A district with no 2012 polygon has no outline: its row is not rewritten either.
        conn.execute(
            "INSERT INTO calculo.cobertura_viva (nivel, codigo, padre, reservado, data_version, primaria)"
            " VALUES ('distrito', 'D9999', '06', true, 'prueba', true)"
        )
        conn.commit()
        settled = _live_rows(conn)
        # Nothing new: only the territories it recomputed are written again (their
        # data_version), every H3 cell stays as the last computation left it.
        compute_district(conn, "0607")
        again = _live_rows(conn)
        assert again.keys() == settled.keys()
        assert {k for k in again if again[k][0] != settled[k][0]} == territories
        assert all(again[k][1:] == settled[k][1:] for k in again)
        # A delivered service: the rows whose figures changed are rewritten, no other.
        hogar, _ = _household_with_members(conn, "0607", skip=5)
        conn.execute(
            "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
            " SELECT 'hogar', hogar_id, 'VIVIENDA', NOT ('VIVIENDA' = ANY (servicios)), '2025-12-01', 'prueba:parcial'"
            " FROM nominal.hogar WHERE hogar_id = %s",
            (hogar,),
        )
        conn.commit()
        compute_district(conn, "0607")
        after = _live_rows(conn)
    assert after.keys() == again.keys()
    shown_changed = {k for k in after if after[k][1] != again[k][1]}
    rewritten = {k for k in after if after[k][0] != again[k][0]}
    assert shown_changed, "the event changed no published figure: pick another household"
    assert rewritten == shown_changed | territories
    assert len(rewritten) < len(after) / 10
    assert all(after[k][2] for k in after if k != ("distrito", "D9999"))  # every row keeps or gets its geometry


def test_the_groups_an_update_holds_are_the_stored_ones_until_another_writer_logs(base):
    import pandas as pd

    from geoportal import actualizacion
    from geoportal.actualizacion import compute_district
    from geoportal.pipeline import LAST_UPDATE

    with psycopg.connect(base) as conn:
        compute_district(conn, "0607")
        _, members = _household_with_members(conn, "0607", skip=7)
        conn.execute(
            "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
            " SELECT 'persona', persona_id, 'USF_ADSCRIPCION', NOT ('USF_ADSCRIPCION' = ANY (servicios)),"
            " '2025-12-01', 'prueba:retenidos' FROM nominal.persona WHERE persona_id = %s",
            (members[0],),
        )
        conn.commit()
        compute_district(conn, "0607")  # starts from the groups the first update held
        database = actualizacion._database(conn)
        held = actualizacion._HELD[database]
        assert held.mark == conn.execute(LAST_UPDATE).fetchone()
        assert (held.groups["nivel"] == "h3_5").any() and len(held.rows) > len(held.groups)
        # What it holds is what calculo.agregado has, read here straight from the table.
        columns = list(held.rows.columns)
        stored = pd.DataFrame(
            conn.execute(
                "SELECT t.* FROM calculo.agregado t WHERE t.nivel = 'pais' OR (t.nivel, t.padre) IN"
                " (SELECT * FROM unnest(%s::text[], %s::text[]))",
                (held.groups["nivel"].tolist(), held.groups["padre"].tolist()),
            ).fetchall(),
            columns=[d.name for d in conn.execute("SELECT * FROM calculo.agregado LIMIT 0").description],
        )[columns]
        key = ["nivel", "codigo"]
        mine = held.rows.sort_values(key, ignore_index=True)
        stored = stored.sort_values(key, ignore_index=True)
        assert mine[key].astype(str).to_numpy().tolist() == stored[key].astype(str).to_numpy().tolist()
        np.testing.assert_array_equal(
            mine[columns[3:]].to_numpy(dtype=float), stored[columns[3:]].to_numpy(dtype=float)
        )
        # Another session logs a computation: what this process holds is no longer current.
        with psycopg.connect(base) as other:
            other.execute(
                "INSERT INTO calculo.actualizacion (data_version, ambito, parametros, cambios)"
                " VALUES ('otra', 'prueba', '{}', 0)"
            )
        assert actualizacion._held(database, conn.execute(LAST_UPDATE).fetchone()) is None
        conn.rollback()
