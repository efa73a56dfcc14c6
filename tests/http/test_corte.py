"""The cut-off date belongs to the computation (issue 21, items 1 and 4).

Hand-built fixture in Villeta (1116), cut-off 2025-06-30; every expected figure is
worked out by hand below (ages at the cut-off, events up to it):

    H1 urbana "Centro"        interviewed 2025-03-01  AGUA;ELECTRICIDAD
        P1 F 1990-03-10  35 y at the cut-off      CEDULA;INSCRIPCION_NAC  (+ USF event 2025-05-01)
        P2 M 2007-05-01  17 y at the interview, 18 y at the cut-off
        P3 F 2025-05-01  born after the interview, before the cut-off: 0 y
    H2 urbana "Centro"        interviewed 2025-03-01
        P4 M 2025-08-01  born after the cut-off: counts nowhere
        P5 F 1980-01-01  45 y                      (USF event 2025-09-01: after the cut-off)
    H3 urbana "Barrio Nuevo"  interviewed 2025-09-15: after the cut-off, counts nowhere
        P6 F 1985-01-01, P7 M 2010-01-01

At the cut-off: 2 households, 4 persons (P1, P2, P3, P5), 1 entorno; 18-29: P2; 14-17:
nobody; 30-59: P1, P5; births and 0-4: P3; USF adscription applies to 4, covers 1 (P1).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import psycopg
import pytest

from tests.conftest import load_hand_fixture

CUT = date(2025, 6, 30)
A = (-57.600, -25.7152)
HOUSEHOLDS = [
    ("H1", -57.590, -25.7152, "Centro", "2025-03-01", "AGUA;ELECTRICIDAD"),
    ("H2", -57.610, -25.7152, "Centro", "2025-03-01", ""),
    ("H3", -57.600, -25.7200, "Barrio Nuevo", "2025-09-15", "AGUA"),
]
PERSONS = [
    ("P1", "H1", "F", "1990-03-10", "CEDULA;INSCRIPCION_NAC"),
    ("P2", "H1", "M", "2007-05-01", ""),
    ("P3", "H1", "F", "2025-05-01", ""),
    ("P4", "H2", "M", "2025-08-01", "INSCRIPCION_NAC"),
    ("P5", "H2", "F", "1980-01-01", ""),
    ("P6", "H3", "F", "1985-01-01", "CEDULA"),
    ("P7", "H3", "M", "2010-01-01", ""),
]
EVENTS = [("P1", "2025-05-01"), ("P5", "2025-09-01")]
AT_CUT = {
    "hogares": 2,
    "personas": 4,
    "entornos": 1,
    "l2_universo": 1,
    "l3_universo": 1,
    "l5_universo": 0,
    "l6_universo": 1,
    "l7_universo": 2,
    "l9_universo": 2,
    "usf_adscripcion_aplica": 4,
    "usf_adscripcion_cubiertos": 1,
    "inscripcion_nac_aplica": 4,
    "inscripcion_nac_cubiertos": 1,
    "cedula_cubiertos": 1,
}


def _load(url, folder):
    load_hand_fixture(
        url,
        folder,
        points=[["A", "usf", "USF de prueba", "urbana", 5, A[1], A[0], "sintetico"]],
        households=[
            [h, "1116", loc, "urbana", fecha, lat, lon, srv, "sintetico"] for h, lon, lat, loc, fecha, srv in HOUSEHOLDS
        ],
        persons=[
            [p, h, "Nombre", "Apellido", sex, born, "no", "no", "no", srv, "sintetico"]
            for p, h, sex, born, srv in PERSONS
        ],
        cut=date(2026, 1, 1),
    )
    with psycopg.connect(url) as conn:
        for persona, fecha in EVENTS:
            conn.execute(
                "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
                " VALUES ('persona', %s, 'USF_ADSCRIPCION', true, %s, 'registro de prueba')",
                (persona, fecha),
            )


@pytest.fixture(scope="module")
def corte(make_database, tmp_path_factory):
    from geoportal.pipeline import compute_all

    url = make_database("corte")
    _load(url, tmp_path_factory.mktemp("corte"))
    with psycopg.connect(url) as conn:
        compute_all(conn, fecha_corte=CUT)
    return url


def figures(url: str, columns=tuple(AT_CUT), nivel: str = "distrito", codigo: str = "1116") -> dict:
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT * FROM calculo.agregado WHERE nivel = %s AND codigo = %s", (nivel, codigo))
        row = dict(zip([d.name for d in cur.description], cur.fetchone()))
    return {c: row[c] for c in columns}


def test_what_did_not_exist_at_the_cut_off_counts_nowhere(corte):
    assert figures(corte) == AT_CUT
    assert figures(corte, nivel="pais", codigo="PY") == AT_CUT


def test_without_a_cut_off_every_household_and_person_counts(make_database, tmp_path):
    from geoportal.pipeline import compute_all

    url = make_database("sin_corte")
    _load(url, tmp_path)
    with psycopg.connect(url) as conn:
        compute_all(conn)
    assert figures(url, ["hogares", "personas", "entornos"]) == {"hogares": 3, "personas": 7, "entornos": 2}


def test_a_district_update_keeps_the_cut_off_in_force(corte):
    from geoportal.actualizacion import compute_district

    with psycopg.connect(corte) as conn:
        result = compute_district(conn, "1116")  # no cut-off given: the national one
    assert result["fecha_corte"] == "2025-06-30"
    assert figures(corte) == AT_CUT  # not ages at the interview, not the event of 2025-09-01
    with psycopg.connect(corte) as conn:
        same = compute_district(conn, "1116", fecha_corte=CUT)
        assert same["fecha_corte"] == "2025-06-30"
        from geoportal.publicacion import publish

        assert publish(conn, forzar=True)["publicada"]
        parametros = conn.execute("SELECT parametros FROM publico.version WHERE vigente").fetchone()[0]
    assert parametros["fecha_corte"] == "2025-06-30"


@pytest.mark.parametrize("other", [None, date(2025, 1, 1)])
def test_a_district_update_at_another_cut_off_is_refused(corte, other):
    from geoportal.actualizacion import compute_district
    from geoportal.pipeline import CorteDistinto

    with psycopg.connect(corte) as conn:
        before = conn.execute("SELECT count(*) FROM calculo.actualizacion").fetchone()[0]
        with pytest.raises(CorteDistinto, match="fecha de corte 2025-06-30"):
            compute_district(conn, "1116", fecha_corte=other)
        assert conn.execute("SELECT count(*) FROM calculo.actualizacion").fetchone()[0] == before
    assert figures(corte) == AT_CUT


def test_the_cli_district_update_uses_the_cut_off_in_force_and_refuses_another(corte):
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": corte, "COLUMNS": "300"}
    run = lambda *a: subprocess.run(
        [sys.executable, "-m", "geoportal.cli", *a], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    ok = run("calcular", "--distrito", "1116")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "fecha de corte: 2025-06-30" in " ".join(ok.stdout.split())
    assert figures(corte) == AT_CUT
    refused = run("calcular", "--distrito", "1116", "--fecha-corte", "2025-01-01")
    said = " ".join(refused.stdout.split())
    assert refused.returncode == 1 and "Traceback" not in refused.stdout + refused.stderr
    assert "El cálculo vigente es a la fecha de corte 2025-06-30" in said and "geoportal calcular --fecha-corte" in said


def test_the_recompute_after_a_contrarreferencia_keeps_the_cut_off(corte):
    """Through the running API: a delivered service reported today (after the cut-off)
    does not count yet, and the district stays at ages of the cut-off."""
    from tests.institucional import Server, login, make_users, wait_for_figures

    make_users(corte)
    with psycopg.connect(corte) as conn:
        derivacion = conn.execute(
            "INSERT INTO nominal.derivacion (unidad, unidad_id, servicio, estado, usuario, hogar_id, distrito, institucion)"
            " VALUES ('persona', 'P2', 'USF_ADSCRIPCION', 'referida', 'mesa1116', 'H1', '1116', 'MSPBS')"
            " RETURNING derivacion_id"
        ).fetchone()[0]
    server = Server(corte)
    try:
        usf = login(server.base, "usf1116")
        answer = usf.post(
            f"/api/derivaciones/{derivacion}/contrarreferencia",
            json={"resultado": "entregada", "fecha": date.today().isoformat()},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["actualizando"] is True, answer.json()
        wait_for_figures(usf)  # the district is recomputed after the answer
    finally:
        server.stop()
    assert figures(corte) == AT_CUT
    with psycopg.connect(corte) as conn:
        last = conn.execute(
            "SELECT ambito, parametros->>'fecha_corte' FROM calculo.actualizacion"
            " ORDER BY actualizacion_id DESC LIMIT 1"
        ).fetchone()
    assert last == ("distrito 1116", "2025-06-30")
