"""OGC API – Features over real uvicorn and PostGIS, read by GDAL's own OAPIF client."""

from __future__ import annotations

import json
import shutil
import subprocess

import httpx
import psycopg
import pytest
import shapely

COLLECTIONS = {
    "cobertura_pais",
    "cobertura_departamento",
    "cobertura_distrito",
    "cobertura_h3_5",
    "cobertura_h3_6",
    "cobertura_h3_7",
    "cobertura_h3_8",
    "cobertura",
    "puntos_entrega",
    "departamentos",
    "distritos",
}
COUNT_SQL = {
    **{
        f"cobertura_{n}": f"SELECT count(*) FROM publico.cobertura WHERE nivel = '{n}'"
        for n in ("pais", "departamento", "distrito", "h3_5", "h3_6", "h3_7", "h3_8")
    },
    "cobertura": "SELECT count(*) FROM publico.cobertura",
    "puntos_entrega": "SELECT count(*) FROM oferta.punto_entrega",
    "departamentos": "SELECT count(*) FROM territorio.departamento",
    "distritos": "SELECT count(*) FROM territorio.distrito_cartografico",
}


def _gdal(*args: str) -> str:
    tool = shutil.which(args[0])
    if tool is None:
        pytest.fail(f"Falta {args[0]}: instale gdal-bin (scripts/setup.sh lo instala para las pruebas).")
    done = subprocess.run([tool, *args[1:]], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_gdal_lists_every_collection(api_server):
    out = _gdal("ogrinfo", "-ro", "-so", "-q", f"OAPIF:{api_server}/ogc")
    listed = {line.split(":")[1].split("(")[0].strip() for line in out.splitlines() if ":" in line}
    assert listed == COLLECTIONS


@pytest.mark.parametrize("collection", sorted(COLLECTIONS))
def test_gdal_reads_every_feature_of_every_collection(api_server, pilotos, collection):
    out = _gdal("ogrinfo", "-ro", "-al", "-q", "-oo", "PAGE_SIZE=2000", f"OAPIF:{api_server}/ogc", collection)
    features = out.count("OGRFeature(")
    with psycopg.connect(pilotos["url"]) as conn:
        expected = conn.execute(COUNT_SQL[collection]).fetchone()[0]
    assert expected > 0 and features == expected


def test_ogr2ogr_copies_district_coverage_to_geopackage_with_the_published_values(api_server, pilotos, tmp_path):
    import pyogrio

    target = tmp_path / "distritos.gpkg"
    _gdal("ogr2ogr", "-f", "GPKG", str(target), f"OAPIF:{api_server}/ogc", "cobertura_distrito")
    frame = pyogrio.read_dataframe(target).set_index("codigo")
    with psycopg.connect(pilotos["url"]) as conn:
        rows = conn.execute(
            "SELECT codigo, hogares, l1_pct, cpn_sin_oferta, reservado FROM publico.cobertura WHERE nivel = 'distrito'"
        ).fetchall()
    assert sorted(frame.index) == sorted(r[0] for r in rows)
    for codigo, hogares, l1_pct, gap, reservado in rows:
        assert frame.loc[codigo, "hogares"] == hogares
        assert frame.loc[codigo, "l1_pct"] == pytest.approx(l1_pct, abs=0)
        assert frame.loc[codigo, "cpn_sin_oferta"] == gap
        assert bool(frame.loc[codigo, "reservado"]) == reservado


def test_next_links_walk_the_whole_collection_once(api_server, pilotos):
    url = f"{api_server}/ogc/collections/cobertura_h3_8/items?limit=700"
    seen: list[str] = []
    matched = None
    while url:
        page = httpx.get(url, timeout=60).json()
        matched = page["numberMatched"]
        assert page["numberReturned"] == len(page["features"])
        seen += [f["id"] for f in page["features"]]
        url = next(
            (l["href"] for l in page["links"] if l["rel"] == "next" and l["type"] == "application/geo+json"), None
        )
    with psycopg.connect(pilotos["url"]) as conn:
        codes = {r[0] for r in conn.execute("SELECT codigo FROM publico.cobertura WHERE nivel = 'h3_8'")}
    assert len(seen) == len(set(seen)) == matched == len(codes) and set(seen) == codes


def test_bbox_returns_exactly_the_features_that_intersect_it(api_server):
    bbox = (-57.70, -25.75, -57.55, -25.60)
    everything = httpx.get(f"{api_server}/ogc/collections/cobertura_h3_7/items?limit=10000", timeout=60).json()
    box = shapely.box(*bbox)
    expected = {f["id"] for f in everything["features"] if shapely.geometry.shape(f["geometry"]).intersects(box)}
    got = httpx.get(
        f"{api_server}/ogc/collections/cobertura_h3_7/items", params={"bbox": ",".join(map(str, bbox)), "limit": 10000}
    ).json()
    assert expected and {f["id"] for f in got["features"]} == expected and got["numberMatched"] == len(expected)


def test_district_filter_keeps_the_cells_whose_point_lies_in_the_district(api_server):
    district = httpx.get(f"{api_server}/ogc/collections/distritos/items/1116").json()
    polygon = shapely.geometry.shape(district["geometry"])
    everything = httpx.get(f"{api_server}/ogc/collections/cobertura_h3_7/items?limit=10000", timeout=60).json()
    expected = {
        f["id"]
        for f in everything["features"]
        if polygon.intersects(shapely.geometry.shape(f["geometry"]).point_on_surface())
    }
    got = httpx.get(f"{api_server}/ogc/collections/cobertura_h3_7/items?distrito=1116&limit=10000").json()
    assert expected and {f["id"] for f in got["features"]} == expected


def test_department_filter_on_districts_and_points(api_server, pilotos):
    got = httpx.get(f"{api_server}/ogc/collections/cobertura_distrito/items?departamento=11").json()
    assert [f["id"] for f in got["features"]] == ["1116"]
    points = httpx.get(
        f"{api_server}/ogc/collections/puntos_entrega/items?distrito=1116&tipo=escuela&limit=10000"
    ).json()
    with psycopg.connect(pilotos["url"]) as conn:
        expected = {
            r[0]
            for r in conn.execute(
                "SELECT punto_id FROM oferta.punto_entrega WHERE codigo_2012 = '1116' AND tipo = 'escuela'"
            )
        }
    assert expected and {f["id"] for f in points["features"]} == expected
    assert all(
        f["properties"]["origen"] == "sintetico" or f["properties"]["origen"].startswith("real:")
        for f in points["features"]
    )


def test_landing_conformance_and_openapi_are_what_clients_expect(api_server):
    landing = httpx.get(f"{api_server}/ogc").json()
    rels = {l["rel"]: l["href"] for l in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    conformance = httpx.get(rels["conformance"]).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conformance
    api = httpx.get(rels["service-desc"]).json()
    assert "/ogc/collections/{collectionId}/items" in api["paths"]
    assert httpx.get(f"{api_server}/ogc/api", follow_redirects=True).json()["openapi"].startswith("3.")
    collection = httpx.get(f"{api_server}/ogc/collections/cobertura_distrito").json()
    assert collection["crs"] == ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]
    west, south, east, north = collection["extent"]["spatial"]["bbox"][0]
    assert -63 < west < east < -54 and -28 < south < north < -19


def test_html_is_served_with_f_html_or_a_browser_accept_header(api_server):
    by_param = httpx.get(f"{api_server}/ogc/collections/cobertura_distrito/items?f=html")
    by_accept = httpx.get(f"{api_server}/ogc/collections", headers={"Accept": "text/html,application/xhtml+xml"})
    for response in (by_param, by_accept):
        assert response.headers["content-type"].startswith("text/html")
        assert "<html lang='es'>" in response.text
    assert "Villeta" in by_param.text


def test_one_item_is_the_published_row(api_server, pilotos):
    item = httpx.get(f"{api_server}/ogc/collections/cobertura_distrito/items/1116")
    assert item.headers["content-type"].startswith("application/geo+json")
    props = item.json()["properties"]
    with psycopg.connect(pilotos["url"]) as conn:
        cur = conn.execute("SELECT * FROM publico.cobertura WHERE nivel = 'distrito' AND codigo = '1116'")
        row = dict(zip([d.name for d in cur.description], cur.fetchone()))
    row.pop("geom")
    assert props == json.loads(json.dumps(row))
