"""Entornos placed and judged where people live; events dated against the interview and the cut-off.

Hand-built fixture in Villeta (1116), interview 2025-10-01, cut-off 2026-01-01. Points:

    school S (-57.600, -25.7062)    USF A (-57.600, -25.7152)

Entorno "Compañía Dispersa" (no real place of that name): D1 9.6 km north of S, D2 9.3 km
south, D3 0.5 km west. The mean of the three lies 0.1 km from S, but only D3 is within the
rural school radius (5 km): the school is *not* in reach of the community. USF (rural 10 km):
D2 (8.3 km) and D3 (1 km) in reach, D1 (10.6 km) not: 2 of 3, covered.

Entorno "Itá Yvaté" (a real MEC locality of Villeta, written with accents the MEC file lacks):
E1-E3 about 1 km around its schools, 13+ km from S and A. Its reference point is the MEC
point, computed here from escuelas_mec.csv (the school nearest the mean of its schools).

Expected values are worked out by hand from the catalog and written as literals.
"""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely

from geoportal.settings import DATA_DIR
from tests.conftest import load_hand_fixture

CUT = date(2026, 1, 1)
S = (-57.600, -25.7062)
A = (-57.600, -25.7152)
HOUSEHOLDS = {  # id: lon, lat, localidad, FIPS services
    "D1": (-57.600, -25.620, "Compañía Dispersa", "AGUA"),
    "D2": (-57.600, -25.790, "Compañía Dispersa", ""),
    "D3": (-57.605, -25.7062, "Compañía Dispersa", ""),
    "E1": (-57.515, -25.585, "Itá Yvaté", "AGUA;ENT_CAMINO"),
    "E2": (-57.525, -25.595, "Itá Yvaté", ""),
    "E3": (-57.530, -25.600, "Itá Yvaté", "TEKOPORA"),
}
EVENTS = [  # unidad, id, service, covered, date
    ("hogar", "E1", "AGUA", False, "2025-09-01"),  # before the interview: the interview wins
    ("hogar", "E2", "ELECTRICIDAD", True, "2026-02-01"),  # after the cut-off: not yet at that date
    ("hogar", "E2", "ENT_CAMINO", True, "2025-11-01"),  # the household's road answer, updated
    ("persona", "PD1", "CEDULA", True, "2025-01-01"),  # before the interview: ignored
    ("persona", "PE3", "CEDULA", False, "2025-12-01"),  # after the interview, before the cut: applies
]


def ita_yvate_point() -> tuple[float, float]:
    esc = pd.read_csv(DATA_DIR / "escuelas_mec.csv", usecols=["barrio_localidad", "lat", "lon"]).dropna()
    villeta = gpd.read_file(DATA_DIR / "distritos.geojson").set_index("codigo").loc["1116", "geometry"]
    own = esc[
        (esc["barrio_localidad"].str.upper() == "ITA YVATE") & shapely.contains_xy(villeta, esc["lon"], esc["lat"])
    ]
    assert len(own) == 3  # the source data as this fixture assumes it
    d = np.hypot(own["lon"] - own["lon"].mean(), own["lat"] - own["lat"].mean())
    best = own.loc[d.idxmin()]
    return float(best["lon"]), float(best["lat"])


@pytest.fixture(scope="module")
def hand(make_database, tmp_path_factory):
    villeta = gpd.read_file(DATA_DIR / "distritos.geojson").set_index("codigo").loc["1116", "geometry"]
    for lon, lat, *_ in HOUSEHOLDS.values():
        assert villeta.contains(shapely.Point(lon, lat))  # the layout itself
    url = make_database("entorno")
    folder = tmp_path_factory.mktemp("entorno")
    load_hand_fixture(
        url,
        folder,
        points=[
            ["A", "usf", "USF de prueba", "rural", 10, A[1], A[0], "sintetico"],
            ["S", "escuela", "Escuela de prueba", "rural", 50, S[1], S[0], "sintetico"],
        ],
        households=[
            [h, "1116", loc, "rural", "2025-10-01", lat, lon, srv, "sintetico"]
            for h, (lon, lat, loc, srv) in HOUSEHOLDS.items()
        ],
        persons=[
            [
                f"P{h}",
                h,
                "Nombre",
                "Apellido",
                "F",
                "1985-05-05",
                "no",
                "no",
                "no",
                "" if h == "D1" else "CEDULA",
                "sintetico",
            ]
            for h in HOUSEHOLDS
        ],
        cut=CUT,
    )
    from geoportal.pipeline import compute_all

    with psycopg.connect(url) as conn:
        conn.cursor().executemany(
            "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
            " VALUES (%s, %s, %s, %s, %s, 'registro de prueba')",
            EVENTS,
        )
        conn.commit()
        compute_all(conn, fecha_corte=CUT)
    return url


def totals(url: str) -> pd.Series:
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT * FROM calculo.contribucion")
        frame = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    return frame


def test_community_supply_is_judged_where_its_households_live(hand):
    row = totals(hand).drop(columns=["codigo_distrito", "codigo_2012", "dpto", "h3_8"]).sum()
    assert row["entornos"] == 2
    # School: Dispersa 1 of 3 households in reach, Itá Yvaté none -> no community covered.
    assert (row["ent_escuela_cubiertos"], row["ent_escuela_sin_oferta"], row["ent_escuela_con_oferta"]) == (0, 2, 0)
    # USF: Dispersa 2 of 3 -> covered; Itá Yvaté 0 of 3.
    assert (row["ent_usf_cubiertos"], row["ent_usf_sin_oferta"]) == (1, 1)


def test_household_events_count_in_the_community_majority(hand):
    row = totals(hand).drop(columns=["codigo_distrito", "codigo_2012", "dpto", "h3_8"]).sum()
    # Itá Yvaté: E1 reports the road in the FIPS, E2 by a later record: 2 of 3. Dispersa: none.
    # A missing road is an infrastructure investment (catalog: brecha_sin_punto inversion).
    assert (row["ent_camino_cubiertos"], row["ent_camino_sin_oferta"], row["ent_camino_con_oferta"]) == (1, 1, 0)


def test_an_entorno_lies_in_the_cell_of_its_real_locality_point_else_its_medoid_household(hand):
    frame = totals(hand)
    frame["celda"] = [h3.int_to_str(int(c)) for c in frame["h3_8"]]
    entorno_cells = sorted(frame.loc[frame["entornos"] > 0, "celda"])
    lon, lat = ita_yvate_point()
    place_cell = h3.latlng_to_cell(lat, lon, 8)
    household_cells = {h: h3.latlng_to_cell(lat_, lon_, 8) for h, (lon_, lat_, *_) in HOUSEHOLDS.items()}
    assert place_cell not in {household_cells[h] for h in ("E1", "E2", "E3")}  # layout: a distinct cell
    # Dispersa's median point is (-57.600, -25.7062); its nearest household is D3.
    assert entorno_cells == sorted([place_cell, household_cells["D3"]])
    place_row = frame[frame["celda"] == place_cell].iloc[0]
    assert (place_row["entornos"], place_row["hogares"]) == (1, 0)


def test_events_before_the_interview_or_after_the_cut_off_do_not_apply(hand):
    row = totals(hand).drop(columns=["codigo_distrito", "codigo_2012", "dpto", "h3_8"]).sum()
    assert row["agua_cubiertos"] == 2  # D1 and E1: E1's older "no water" record is superseded
    assert row["electricidad_cubiertos"] == 0  # E2's connection is dated after the cut-off
    assert row["cedula_cubiertos"] == 4  # PD2, PD3, PE1, PE2: PD1's record is older, PE3's newer says no


def test_without_a_cut_off_every_event_after_the_interview_applies(hand):
    from geoportal.pipeline import compute_all

    with psycopg.connect(hand) as conn:
        compute_all(conn)
    row = totals(hand).drop(columns=["codigo_distrito", "codigo_2012", "dpto", "h3_8"]).sum()
    assert row["electricidad_cubiertos"] == 1
    assert row["cedula_cubiertos"] == 4
    with psycopg.connect(hand) as conn:
        compute_all(conn, fecha_corte=CUT)


def test_gaps_without_a_delivery_point_follow_the_catalog(hand):
    row = totals(hand).drop(columns=["codigo_distrito", "codigo_2012", "dpto", "h3_8"]).sum()
    # Water: no network to connect to is an investment; Tekoporã: enrolment is a referral.
    assert (row["agua_aplica"], row["agua_sin_oferta"], row["agua_con_oferta"]) == (6, 4, 0)
    assert (row["tekopora_cubiertos"], row["tekopora_sin_oferta"], row["tekopora_con_oferta"]) == (1, 0, 5)
