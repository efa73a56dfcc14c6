"""Investment planner (geoportal.planificador, ``geoportal planificar``).

Hand-built case (distances checked with pyproj below), rural cells, USF rural radius 10 km,
points laid out on a line at latitude -25 (x east, y north, km):

    demand a (0, 0) w 2    b (8, 0) w 2    c (16, 0) w 2    d (24, 0) w 2    e (12, 9) w 1
    candidates S1 (4, 0) reaches a, b      S2 (20, 0) reaches c, d      S3 (12, 0) reaches b, c, e

k = 2. Greedy takes S3 first (5 > 4), then S1 or S2 (+2): 7. The optimum is {S1, S2}: 8
(e is left out). With capacity 3 per site every pair of sites serves 6 at most (two sites ×
3), and S1 + S2 (4 each) or any pair reaches 6: optimum 6, no site above 3.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import psycopg
import pytest
from pyproj import Geod

from geoportal.planificador import pares, resolver
from tests.conftest import FECHA_CORTE

GEOD = Geod(ellps="WGS84")
ORIGEN = (-57.0, -25.0)


def at(x_km: float, y_km: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(ORIGEN[0], ORIGEN[1], 90, x_km * 1000)
    lon, lat, _ = GEOD.fwd(lon, lat, 0, y_km * 1000)
    return lon, lat


DEMANDA = {"a": (0, 0, 2), "b": (8, 0, 2), "c": (16, 0, 2), "d": (24, 0, 2), "e": (12, 9, 1)}
CANDIDATOS = {"S1": (4, 0), "S2": (20, 0), "S3": (12, 0)}


def _problema():
    dem = [at(x, y) for x, y, _ in DEMANDA.values()]
    cand = [at(x, y) for x, y in CANDIDATOS.values()]
    peso = np.array([w for _, _, w in DEMANDA.values()], float)
    i, j = pares(
        np.array([p[0] for p in dem]),
        np.array([p[1] for p in dem]),
        np.zeros(len(dem), bool),
        np.array([p[0] for p in cand]),
        np.array([p[1] for p in cand]),
        (3.0, 10.0),
    )
    return peso, i, j


def test_layout_reach_is_as_documented():
    names, cands = list(DEMANDA), list(CANDIDATOS)
    reach = set()
    for c, (cx, cy) in CANDIDATOS.items():
        for d, (dx, dy, _) in DEMANDA.items():
            _, _, metres = GEOD.inv(*at(cx, cy), *at(dx, dy))
            if metres <= 10_000:
                reach.add((d, c))
    assert reach == {("a", "S1"), ("b", "S1"), ("c", "S2"), ("d", "S2"), ("b", "S3"), ("c", "S3"), ("e", "S3")}
    _, i, j = _problema()
    assert {(names[a], cands[b]) for a, b in zip(i, j)} == reach


@pytest.mark.parametrize("motor", ["cbc", "highs"])
def test_optimum_beats_greedy_on_the_hand_case(motor):
    peso, i, j = _problema()
    sol = resolver(peso, peso, i, j, 3, 2, motor=motor)
    assert sorted(sol.elegidos) == [0, 1]  # S1 and S2
    assert sol.objetivo == pytest.approx(8.0)
    assert sol.codicioso == pytest.approx(7.0) and sol.codicioso_elegidos[0] == 2  # greedy starts with S3
    assert sol.gap == 0.0 and sol.estado == "Optimal Solution Found"
    assert sol.cubierto == {0: pytest.approx(4.0), 1: pytest.approx(4.0)}


@pytest.mark.parametrize("motor", ["cbc", "highs"])
def test_capacity_is_respected(motor):
    peso, i, j = _problema()
    sol = resolver(peso, peso, i, j, 3, 2, capacidad=3, motor=motor)
    assert sol.objetivo == pytest.approx(6.0)
    assert len(sol.elegidos) == 2
    assert all(v <= 3 + 1e-6 for v in sol.carga.values())
    # capacity 4: the uncapacitated optimum fits exactly
    assert resolver(peso, peso, i, j, 3, 2, capacidad=4, motor=motor).objetivo == pytest.approx(8.0)


def test_one_site_takes_the_heaviest_reach():
    peso, i, j = _problema()
    sol = resolver(peso, peso, i, j, 3, 1)
    assert sol.elegidos == [2] and sol.objetivo == pytest.approx(5.0)


# ----------------------------------------------------------------------------- on the pilot database


def _usf_services():
    from geoportal.catalog import default_catalog

    return [s.codigo for s in default_catalog().servicios if s.punto_tipo == "usf" and s.unidad != "entorno"]


@pytest.fixture(scope="module")
def plan_villeta(pilotos):
    from geoportal.planificador import planificar

    with psycopg.connect(pilotos["url"]) as conn:
        return planificar(conn, "distrito", "1116", "usf", 3, fecha_corte=FECHA_CORTE)


def test_demand_is_the_engines_sin_oferta_count(pilotos, plan_villeta):
    with psycopg.connect(pilotos["url"]) as conn:
        cur = conn.execute("SELECT * FROM calculo.agregado WHERE nivel = 'distrito' AND codigo = '1116'")
        row = dict(zip([d.name for d in cur.description], cur.fetchone()))
    expected = sum(row[f"{c.lower()}_sin_oferta"] for c in _usf_services())
    assert expected > 0
    assert plan_villeta.demanda_total == expected
    assert len(plan_villeta.sitios) == 3
    assert plan_villeta.solucion.objetivo >= plan_villeta.solucion.codicioso - 1e-6
    assert plan_villeta.solucion.objetivo <= plan_villeta.demanda_total


def test_whatif_agrees_with_the_plan_and_a_full_recompute(pilotos, plan_villeta):
    """All sites together through the what-if equal the planner's objective; a full district
    recompute on a copy of the database with the points inserted gives the same counts."""
    from geoportal.actualizacion import compute_district
    from geoportal.planificador import efecto_whatif
    from geoportal.whatif import PuntoNuevo, simulate
    from tests.institucional import clone_database

    nuevos = [PuntoNuevo("usf", s["lon"], s["lat"], 100, s["zona"]) for s in plan_villeta.sitios]
    with psycopg.connect(pilotos["url"]) as conn:
        tabla = simulate(conn, "1116", nuevos, fecha_corte=FECHA_CORTE)
    # The planner places demand at its cell's mean (res-8 cells are ~1 km across); households
    # near the edge of a catchment may fall on the other side: within 1 %.
    agregadas = efecto_whatif(tabla, "usf")["unidades_agregadas"]
    assert abs(agregadas - plan_villeta.solucion.objetivo) <= 0.01 * plan_villeta.solucion.objetivo
    copia = clone_database(pilotos["url"], "plan_recalculo")
    with psycopg.connect(copia) as conn:
        for n, p in enumerate(nuevos, start=1):
            conn.execute(
                "INSERT INTO oferta.punto_entrega (punto_id, tipo, nombre, institucion, zona, capacidad,"
                " origen, lon, lat) VALUES (%s, 'usf', %s, 'MSPBS', %s, 100, 'sintetico', %s, %s)",
                (f"plan-{n}", f"USF plan {n}", p.zona, p.lon, p.lat),
            )
        conn.commit()
        compute_district(conn, "1116")
        cur = conn.execute("SELECT * FROM calculo.agregado WHERE nivel = 'distrito' AND codigo = '1116'")
        row = dict(zip([d.name for d in cur.description], cur.fetchone()))
    por_servicio = tabla.set_index("servicio")
    for code in _usf_services():
        assert row[f"{code.lower()}_sin_oferta"] == por_servicio.loc[code, "brecha_sin_oferta_despues"], code


def test_cli_prints_optimum_greedy_gap_and_verification(pilotos):
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": pilotos["url"]}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "geoportal.cli",
            "planificar",
            "--distrito",
            "1116",
            "--tipo",
            "usf",
            "--k",
            "2",
            "--fecha-corte",
            FECHA_CORTE.isoformat(),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = " ".join(out.stdout.split())
    for piece in (
        "celdas de demanda ×",
        "candidatos",
        "Óptimo (CBC",
        "heurística codiciosa",
        "gap",
        "simulación (distrito 1116)",
        "Gs por unidad (costo supuesto)",
    ):
        assert piece in text, piece


def test_cli_bad_input_is_spanish(pilotos):
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": pilotos["url"]}
    for args, message in (
        (["--distrito", "1116", "--tipo", "hospitalito"], "Tipo de punto desconocido"),
        (["--distrito", "9999"], "Distrito desconocido"),
        (["--tipo", "usf"], "Indique --distrito o --departamento"),
        (["--distrito", "1116", "--presupuesto", "1000"], "no alcanza"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "geoportal.cli", "planificar", *args, "--sin-verificar"],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        assert out.returncode == 1 and message in " ".join(out.stdout.split()), out.stdout + out.stderr


def test_candidates_from_a_file(pilotos, tmp_path):
    from geoportal.planificador import planificar

    # two candidates: one on the plan's best site, one in the Chaco (reaches nobody of Villeta)
    path = tmp_path / "candidatos.csv"
    with psycopg.connect(pilotos["url"]) as conn:
        best = planificar(conn, "distrito", "1116", "usf", 1, fecha_corte=FECHA_CORTE).sitios[0]
        pd.DataFrame({"lon": [best["lon"], -60.5], "lat": [best["lat"], -22.0], "nombre": ["aquí", "lejos"]}).to_csv(
            path, index=False
        )
        plan = planificar(conn, "distrito", "1116", "usf", 2, candidatos=str(path), fecha_corte=FECHA_CORTE)
    assert [s["nombre"] for s in plan.sitios] == ["aquí"]  # the far one covers nothing: left out
    assert plan.tamano[1] == 1
