"""Territory profiles, indicators, place search and the service finder."""

from __future__ import annotations

import httpx
import numpy as np
import psycopg
import pytest
import shapely
from pyproj import Geod


def _row(url: str, nivel: str, codigo: str) -> dict:
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT * FROM publico.cobertura WHERE nivel = %s AND codigo = %s", (nivel, codigo))
        return dict(zip([d.name for d in cur.description], cur.fetchone()))


def test_profile_lists_the_ten_logros_against_their_metas(api_server, pilotos):
    profile = httpx.get(f"{api_server}/api/territorios/1116").json()
    row = _row(pilotos["url"], "distrito", "1116")
    assert [l["logro"] for l in profile["logros"]] == list(range(1, 11))
    for logro in profile["logros"]:
        n = logro["logro"]
        assert (logro["numerador"], logro["denominador"], logro["porcentaje"], logro["meta"], logro["avance"]) == (
            row[f"l{n}_protegidos"],
            row[f"l{n}_universo"],
            row[f"l{n}_pct"],
            row[f"l{n}_meta"],
            row[f"l{n}_avance"],
        )
    assert profile["nombre"] == row["nombre"] and profile["data_version"] == row["data_version"]


def test_profile_ranks_gaps_and_says_where_they_are(api_server, pilotos):
    profile = httpx.get(f"{api_server}/api/territorios/1602").json()
    row = _row(pilotos["url"], "distrito", "1602")
    gaps = [g for g in profile["brechas"] if g["brecha"] is not None]
    assert gaps and [g["brecha"] for g in gaps] == sorted((g["brecha"] for g in gaps), reverse=True)
    for gap in gaps:
        code = gap["servicio"].lower()
        assert gap["sin_oferta"] == row[f"{code}_sin_oferta"] and gap["con_oferta"] == row[f"{code}_con_oferta"]
        assert gap["brecha"] == gap["sin_oferta"] + gap["con_oferta"]
        if gap["brecha"]:
            expected = "inversión" if gap["sin_oferta"] >= gap["con_oferta"] else "derivación"
            assert gap["caso_principal"].startswith(expected)
    district = shapely.geometry.shape(
        httpx.get(f"{api_server}/ogc/collections/distritos/items/1602").json()["geometry"]
    )
    top = gaps[0]
    assert top["donde_h3_7"]
    for place in top["donde_h3_7"]:
        cell = httpx.get(f"{api_server}/ogc/collections/cobertura_h3_7/items/{place['celda']}").json()
        props = cell["properties"]
        code = top["servicio"].lower()
        assert not props["reservado"]
        assert place["brecha"] == (props[f"{code}_sin_oferta"] or 0) + (props[f"{code}_con_oferta"] or 0)
        assert district.intersects(shapely.geometry.shape(cell["geometry"]).point_on_surface())


def test_low_survey_coverage_comes_with_a_warning(api_server, pilotos):
    low = httpx.get(f"{api_server}/api/territorios/1602").json()["relevamiento"]
    full = httpx.get(f"{api_server}/api/territorios/1116").json()["relevamiento"]
    assert low["relevamiento_pct"] == _row(pilotos["url"], "distrito", "1602")["relevamiento_pct"] < 50
    assert "baja" in low["aviso"]
    assert full["relevamiento_pct"] >= 50 and full["aviso"] is None


def test_indicators_of_a_department_and_of_a_service(api_server, pilotos):
    body = httpx.get(f"{api_server}/api/indicadores", params={"nivel": "departamento", "codigo": "16"}).json()
    row = _row(pilotos["url"], "departamento", "16")
    usf = next(s for s in body["servicios"] if s["servicio"] == "USF_ADSCRIPCION")
    assert (usf["numerador"], usf["denominador"], usf["porcentaje"]) == (
        row["usf_adscripcion_cubiertos"],
        row["usf_adscripcion_aplica"],
        row["usf_adscripcion_pct"],
    )


@pytest.mark.parametrize(
    "q, nivel, codigo",
    [
        ("asuncion", "departamento", "00"),
        ("asuncion", "distrito", "0000"),
        ("ñemby", "distrito", "1112"),
        ("ÑEMBY", "distrito", "1112"),
        ("Mcal Estigarribia", "distrito", "1602"),
        ("villeta", "distrito", "1116"),
        ("caazapa", "departamento", "06"),
    ],
)
def test_search_ignores_accents_case_and_abbreviations(api_server, q, nivel, codigo):
    results = httpx.get(f"{api_server}/api/buscar", params={"q": q}).json()["resultados"]
    hit = next((r for r in results if r["nivel"] == nivel and r["codigo"] == codigo), None)
    assert hit is not None, results
    west, south, east, north = hit["bbox"]
    assert west <= hit["centroide"][0] <= east and south <= hit["centroide"][1] <= north


def test_search_finds_localities(api_server, pilotos):
    with psycopg.connect(pilotos["url"]) as conn:
        geonameid, name = conn.execute(
            "SELECT geonameid, nombre FROM territorio.localidad ORDER BY geonameid LIMIT 1"
        ).fetchone()
    results = httpx.get(f"{api_server}/api/buscar", params={"q": name.upper(), "n": 100}).json()["resultados"]
    assert any(r["nivel"] == "localidad" and r["codigo"] == str(geonameid) for r in results)


def test_nearest_points_match_an_independent_geodesic_computation(api_server, pilotos):
    lat, lon = -25.62, -57.58
    with psycopg.connect(pilotos["url"]) as conn:
        points = conn.execute(
            "SELECT punto_id, lon, lat, origen FROM oferta.punto_entrega WHERE tipo = 'usf'"
        ).fetchall()
    ids = np.array([p[0] for p in points])
    _, _, meters = Geod(ellps="WGS84").inv(
        np.full(len(points), lon),
        np.full(len(points), lat),
        np.array([p[1] for p in points]),
        np.array([p[2] for p in points]),
    )
    order = np.argsort(meters, kind="stable")[:5]
    body = httpx.get(
        f"{api_server}/api/servicios/cercanos", params={"lat": lat, "lon": lon, "tipo": "usf", "n": 5}
    ).json()
    got = body["puntos"]
    assert [p["punto_id"] for p in got] == list(ids[order])
    for point, index in zip(got, order):
        assert point["distancia_km"] == pytest.approx(meters[index] / 1000, abs=0.002)
        assert point["tipo_nombre"] == "Unidad de Salud de la Familia" and point["institucion"] == "MSPBS"
        assert point["origen"] == "sintetico" or point["origen"].startswith("real:")


def test_one_delivery_point_sheet(api_server, pilotos):
    with psycopg.connect(pilotos["url"]) as conn:
        punto_id, nombre, origen = conn.execute(
            "SELECT punto_id, nombre, origen FROM oferta.punto_entrega WHERE origen LIKE 'real:%' LIMIT 1"
        ).fetchone()
    sheet = httpx.get(f"{api_server}/api/servicios/{punto_id}").json()
    assert (sheet["nombre"], sheet["origen"], sheet["sintetico"]) == (nombre, origen, False)
