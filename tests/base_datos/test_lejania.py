"""Persons far from the delivery points: counts computed household by household, published protected.

Hand-built fixture: 24 households of Villeta (1116) with 1 to 4 persons each and two USF
points, A and B; no school at all. The expected number of persons beyond 5, 10 and 20 km
of the nearest USF is computed here with plain pandas and pyproj's ellipsoidal geodesic
(the engine uses its own spherical k-d tree, not pyproj). The published value must be the
protected one: a multiple of B within B - 1 of the truth, never above the published
persons, its share computed from the two published counts.

Then, on the pilots: the value of one area is the same in the protected store
(publico.cobertura), the OGC item, the GeoJSON / CSV downloads, the vector tile of the
``lejania`` layer and the territory profile.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date

import httpx
import mapbox_vector_tile
import numpy as np
import pandas as pd
import psycopg
import pytest
from pyproj import Geod

from tests.conftest import load_hand_fixture

CUT = date(2026, 1, 1)
USF = {"A": (-57.600, -25.7152), "B": (-57.55, -25.60)}
# lon, lat: spread from under 1 km to over 20 km from the nearest USF.
PLACES = [
    (-57.5935, -25.7189),
    (-57.5805, -25.6034),
    (-57.6186, -25.7448),
    (-57.6239, -25.6689),
    (-57.5306, -25.5516),
    (-57.5426, -25.7320),
    (-57.5979, -25.6340),
    (-57.6652, -25.7183),
    (-57.5447, -25.5411),
    (-57.6615, -25.6900),
    (-57.5631, -25.7730),
    (-57.6390, -25.6365),
    (-57.6053, -25.8014),
    (-57.6832, -25.7778),
    (-57.6967, -25.7610),
    (-57.4530, -25.5532),
    (-57.6136, -25.8157),
    (-57.5966, -25.8224),
    (-57.5716, -25.8334),
    (-57.5964, -25.8371),
    (-57.6173, -25.8390),
    (-57.8100, -25.7700),
    (-57.5500, -25.9100),
    (-57.5400, -25.9200),
]
SIZES = [1 + i % 4 for i in range(len(PLACES))]  # persons per household
THRESHOLDS = (5, 10, 20)


def expected_beyond() -> dict[int, int]:
    """Persons whose household is farther than km from the nearest USF (pandas + pyproj)."""
    geod = Geod(ellps="WGS84")
    frame = pd.DataFrame(PLACES, columns=["lon", "lat"]).assign(personas=SIZES)
    for name, (lon, lat) in USF.items():
        n = len(frame)
        frame[name] = np.asarray(geod.inv([lon] * n, [lat] * n, frame["lon"].tolist(), frame["lat"].tolist())[2]) / 1000
    frame["km"] = frame[list(USF)].min(axis=1)
    return {km: int(frame.loc[frame["km"] > km, "personas"].sum()) for km in THRESHOLDS}


@pytest.fixture(scope="module")
def villeta(make_database, tmp_path_factory):
    url = make_database("lejania")
    households, persons = [], []
    for i, ((lon, lat), size) in enumerate(zip(PLACES, SIZES)):
        h = f"H{i:02d}"
        households.append([h, "1116", "Compañía", "rural", "2025-10-01", lat, lon, "", "sintetico"])
        for k in range(size):
            persons.append(
                [f"{h}P{k}", h, "Nombre", "Apellido", "FM"[k % 2], "1980-01-01", "no", "no", "no", "", "sintetico"]
            )
    load_hand_fixture(
        url,
        tmp_path_factory.mktemp("lejania"),
        points=[[p, "usf", f"USF {p}", "rural", 100, lat, lon, "sintetico"] for p, (lon, lat) in USF.items()],
        households=households,
        persons=persons,
        cut=CUT,
    )
    return url


def _row(url: str, table: str, nivel: str, codigo: str) -> dict:
    with psycopg.connect(url) as conn:
        cur = conn.execute(f"SELECT * FROM {table} WHERE nivel = %s AND codigo = %s", (nivel, codigo))
        return dict(zip([d.name for d in cur.description], cur.fetchone()))


def test_the_layout_spans_every_threshold():
    beyond = expected_beyond()
    total = sum(SIZES)
    assert total > beyond[5] > beyond[10] > beyond[20] > 0, beyond


def test_persons_beyond_each_distance_equal_an_independent_geodesic_count(villeta):
    beyond = expected_beyond()
    for nivel, codigo in (("distrito", "1116"), ("departamento", "11"), ("pais", "PY")):
        truth = _row(villeta, "calculo.agregado", nivel, codigo)
        assert truth["personas"] == sum(SIZES)
        assert {km: truth[f"lejos_usf_{km}km"] for km in THRESHOLDS} == beyond, nivel
        # No school at all: every person is beyond every distance of one.
        assert {km: truth[f"lejos_escuela_{km}km"] for km in THRESHOLDS} == dict.fromkeys(THRESHOLDS, sum(SIZES))


def test_the_published_figures_are_protected_counts_and_shares_of_them(villeta):
    beyond = expected_beyond()
    shown = _row(villeta, "publico.cobertura", "distrito", "1116")
    assert not shown["reservado"]
    persons = shown["personas"]
    values = [shown[f"lejos_usf_{km}km"] for km in THRESHOLDS]
    for km, value in zip(THRESHOLDS, values):
        assert value % 5 == 0 and abs(value - beyond[km]) <= 4, (km, value, beyond[km])
        assert shown[f"lejos_usf_{km}km_pct"] == pytest.approx(round(100 * value / persons, 1), abs=0.051)
    assert persons >= values[0] >= values[1] >= values[2]
    assert shown["lejos_escuela_5km"] == persons and shown["lejos_escuela_5km_pct"] == 100.0
    # The same family in every column: persons beyond 5 km of a school are all persons.
    assert shown["lejos_escuela_20km"] == shown["lejos_escuela_10km"] == persons


def test_the_families_nest_beyond_20_in_beyond_10_in_beyond_5_in_persons():
    from geoportal.catalog import default_catalog
    from geoportal.disclosure import count_families

    fam = count_families(default_catalog())
    key = fam.family
    assert key["lejos_usf_5km"] != key["lejos_usf_10km"] != key["lejos_usf_20km"]
    assert key["lejos_usf_5km"] != key["lejos_escuela_5km"]
    assert set(fam.supersets[key["lejos_usf_20km"]]) == {key["lejos_usf_10km"], key["lejos_usf_5km"], key["personas"]}
    assert set(fam.supersets[key["lejos_usf_5km"]]) == {key["personas"]}
    assert key["lejos_usf_5km"] not in fam.supersets[key["lejos_escuela_20km"]]


def test_stored_aggregates_without_the_new_counts_ask_for_a_national_computation(villeta):
    """A database computed before these counts existed: a district update says what to run
    instead of failing on a missing column (a release due checks the same)."""
    from geoportal.actualizacion import compute_district
    from tests.institucional import clone_database

    url = clone_database(villeta, "sin_lejania")
    with psycopg.connect(url) as conn:
        conn.execute("ALTER TABLE calculo.agregado DROP COLUMN lejos_usf_5km")
        conn.commit()
        with pytest.raises(LookupError, match="geoportal calcular` sin --distrito"):
            compute_district(conn, "1116")


# ----------------------------------------------------------------------------- same value everywhere
def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


MEASURES = ["personas", "lejos_usf_5km", "lejos_usf_5km_pct", "lejos_hospital_20km", "lejos_hospital_20km_pct"]


def test_one_district_shows_the_protected_value_in_ogc_downloads_tile_and_profile(api_server, pilotos):
    with psycopg.connect(pilotos["url"]) as conn:
        codigo, lon, lat = conn.execute(
            "SELECT codigo, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM publico.cobertura"
            " WHERE nivel = 'distrito' AND NOT reservado AND lejos_usf_5km > 0 ORDER BY codigo LIMIT 1"
        ).fetchone()
        labels = dict(conn.execute("SELECT columna, etiqueta FROM publico.medida").fetchall())
    stored = _row(pilotos["url"], "publico.cobertura", "distrito", codigo)
    expected = {m: stored[m] for m in MEASURES}
    assert expected["lejos_usf_5km"] % 5 == 0 and expected["lejos_usf_5km_pct"] is not None

    item = httpx.get(f"{api_server}/ogc/collections/cobertura_distrito/items/{codigo}").json()["properties"]
    query = {"nivel": "distrito", "medidas": ",".join(MEASURES)}
    geojson = httpx.get(f"{api_server}/descargas/cobertura.geojson", params=query, timeout=60).json()
    feature = next(f["properties"] for f in geojson["features"] if f["id"] == codigo)
    text = httpx.get(f"{api_server}/descargas/cobertura.csv", params=query, timeout=60).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    by_header = dict(zip(rows[0], next(r for r in rows[1:] if r[1] == codigo)))
    from_csv = {m: float(by_header[labels[m]].replace(",", ".")) for m in MEASURES}
    for name, got in (("ogc", item), ("geojson", feature), ("csv", from_csv)):
        assert {m: got[m] for m in MEASURES} == expected, name

    x, y = _tile_of(lon, lat, 8)
    response = httpx.get(f"{api_server}/tiles/lejania/8/{x}/{y}.mvt", timeout=60)
    assert response.status_code == 200, response.text
    props = next(
        f["properties"]
        for f in mapbox_vector_tile.decode(response.content)["lejania"]["features"]
        if f["properties"]["codigo"] == codigo
    )
    for m in MEASURES[1:]:  # reals travel as 32-bit floats in a tile
        assert np.float32(props[m]) == np.float32(expected[m]), m

    profile = httpx.get(f"{api_server}/api/territorios/{codigo}").json()
    usf = next(t for t in profile["lejania"] if t["tipo"] == "usf")
    assert [u["km"] for u in usf["umbrales"]] == list(THRESHOLDS)
    five = usf["umbrales"][0]
    assert (five["personas"], five["porcentaje"]) == (expected["lejos_usf_5km"], expected["lejos_usf_5km_pct"])
