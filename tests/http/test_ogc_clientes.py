"""The OGC API and the public routes as GIS clients and other sites use them (issue 21,
items 20–21): keyset paging, gzip, CORS, HEAD, ``limit`` clamped, unknown parameters
refused, and an OpenAPI document that says what the server sends."""

from __future__ import annotations

import re
import shutil
import subprocess
from urllib.parse import parse_qs, urlparse

import httpx
import psycopg
from psycopg import sql

GEOJSON = "application/geo+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def _next(page: dict) -> str | None:
    return next((l["href"] for l in page["links"] if l["rel"] == "next" and l["type"] == GEOJSON), None)


def _walk(url: str) -> tuple[list[str], int]:
    seen: list[str] = []
    pages = 0
    while url:
        page = httpx.get(url, timeout=60).json()
        assert page["numberReturned"] == len(page["features"])
        seen += [f"{f['properties'].get('nivel', '')}:{f['id']}" for f in page["features"]]
        url = _next(page)
        pages += 1
    return seen, pages


# ----------------------------------------------------------------------------- 20. keyset paging
def test_walking_next_links_returns_every_feature_once_the_same_set_as_one_big_page(api_server, pilotos):
    """``cobertura`` holds every level (its key is code and level); 97 is prime, so pages
    end at arbitrary places."""
    seen, pages = _walk(f"{api_server}/ogc/collections/cobertura/items?limit=97")
    big = httpx.get(f"{api_server}/ogc/collections/cobertura/items?limit=10000", timeout=60).json()
    with psycopg.connect(pilotos["url"]) as conn:
        expected = {f"{n}:{c}" for n, c in conn.execute("SELECT nivel, codigo FROM publico.cobertura")}
    assert len(seen) == len(set(seen)) == len(expected) and set(seen) == expected
    assert {f"{f['properties']['nivel']}:{f['id']}" for f in big["features"]} == expected
    assert pages == -(-len(expected) // 97)


def test_next_link_carries_an_opaque_cursor_not_an_offset(api_server):
    page = httpx.get(f"{api_server}/ogc/collections/cobertura_h3_8/items?limit=50&distrito=1116").json()
    query = parse_qs(urlparse(_next(page)).query)
    assert "offset" not in query and len(query["cursor"]) == 1
    assert query["distrito"] == ["1116"] and query["limit"] == ["50"]
    second = httpx.get(_next(page)).json()
    by_offset = httpx.get(f"{api_server}/ogc/collections/cobertura_h3_8/items?limit=50&distrito=1116&offset=50").json()
    assert [f["id"] for f in second["features"]] == [f["id"] for f in by_offset["features"]]
    assert not {f["id"] for f in second["features"]} & {f["id"] for f in page["features"]}
    prev = next(l["href"] for l in second["links"] if l["rel"] == "prev")
    assert [f["id"] for f in httpx.get(prev).json()["features"]] == [f["id"] for f in page["features"]]


def test_a_bad_cursor_is_a_400_naming_it(api_server):
    for cursor in ("xyz", "eyJrIjpbMV0sIm4iOi0xfQ", "%00"):
        response = httpx.get(f"{api_server}/ogc/collections/cobertura_h3_8/items?cursor={cursor}")
        assert response.status_code == 400, cursor
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "'cursor'" in response.json()["detail"]


def test_a_deep_page_builds_the_json_of_its_own_rows_only(pilotos):
    """A volatile property counts how many features PostgreSQL built: a page at offset 400
    builds 20, not 420 (the old LIMIT/OFFSET query built every skipped row too)."""
    from api.publico.consultas import Filtros, Pagina, _cobertura, feature_sql

    fuente = _cobertura("h3_8")
    with psycopg.connect(pilotos["url"]) as conn:
        conn.execute("CREATE TEMP SEQUENCE construidas")
        columns = [("codigo", sql.SQL("t.codigo")), ("contador", sql.SQL("nextval('construidas')"))]
        clauses, params = fuente.where(Filtros())
        query, page = feature_sql(fuente, columns, clauses, pagina=Pagina(20, None, 400))
        rows = conn.execute(query, [*params, *page]).fetchall()
        built = conn.execute("SELECT last_value FROM construidas").fetchone()[0]
        expected = [
            r[0]
            for r in conn.execute(
                "SELECT codigo FROM publico.cobertura WHERE nivel = 'h3_8' ORDER BY codigo OFFSET 400 LIMIT 20"
            )
        ]
        query, page = feature_sql(fuente, columns, clauses, pagina=Pagina(20, (expected[0],), 0))
        after_key = conn.execute(query, [*params, *page]).fetchall()
    assert [r[1] for r in rows] == expected and len(rows) == 20
    assert built == 20
    assert [r[1] for r in after_key] == expected[1:] + [after_key[-1][1]] and len(after_key) == 20


def test_ogr2ogr_copies_the_whole_coverage_at_gdal_default_page_size(api_server, pilotos, tmp_path):
    tool = shutil.which("ogr2ogr")
    assert tool, "Falta ogr2ogr (gdal-bin)"
    target = tmp_path / "cobertura.gpkg"
    done = subprocess.run(
        [tool, "-f", "GPKG", str(target), f"OAPIF:{api_server}/ogc", "cobertura"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    import pyogrio

    frame = pyogrio.read_dataframe(target)
    with psycopg.connect(pilotos["url"]) as conn:
        expected = sorted(conn.execute("SELECT nivel, codigo FROM publico.cobertura").fetchall())
    assert sorted(zip(frame["nivel"], frame["codigo"])) == expected


# ----------------------------------------------------------------------------- 21. HTTP as clients use it
def test_json_geojson_and_csv_go_gzipped_and_tiles_are_not_compressed_twice(api_server):
    items = httpx.get(
        f"{api_server}/ogc/collections/cobertura_h3_8/items?limit=300", headers={"Accept-Encoding": "gzip"}
    )
    assert items.headers["content-encoding"] == "gzip" and items.json()["numberReturned"] == 300
    assert items.num_bytes_downloaded < len(items.content) / 3
    for path in ("/capas", "/descargas/cobertura.csv?nivel=h3_8", "/openapi.json"):
        response = httpx.get(api_server + path, headers={"Accept-Encoding": "gzip"}, timeout=60)
        assert response.status_code == 200 and response.headers["content-encoding"] == "gzip", path
    small = httpx.get(f"{api_server}/salud", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers  # below the minimum size
    tilejson = httpx.get(f"{api_server}/capas/logros/tilejson.json").json()
    z = 8
    with httpx.Client() as client:
        found = None
        for x in range(84, 88):
            for y in range(142, 146):
                r = client.get(tilejson["tiles"][0].format(z=z, x=x, y=y), headers={"Accept-Encoding": "gzip"})
                if r.status_code == 200:
                    found = r
                    break
            if found:
                break
    assert found is not None and found.headers["content-encoding"] == "gzip"
    raw = found.content  # httpx undoes one gzip layer
    assert not raw.startswith(b"\x1f\x8b")  # one layer only: the MVT itself is not gzip


PUBLICAS = [
    "/ogc",
    "/ogc/collections/distritos/items?limit=2",
    "/capas",
    "/capas/logros/tilejson.json",
    "/api/indicadores?nivel=distrito&codigo=1116",
    "/api/medidas",
    "/api/territorios/1116",
    "/api/buscar?q=Villeta",
    "/descargas/distritos.geojson?distrito=1116",
    "/openapi.json",
]
INSTITUCIONALES = ["/api/sesion", "/api/nominal/brechas", "/mesa", "/ingresar", "/api/derivaciones"]


def test_public_read_only_routes_allow_any_origin_and_institutional_ones_never(api_server):
    for path in PUBLICAS:
        response = httpx.get(api_server + path, headers={"Origin": "https://otro.sitio.example"}, timeout=60)
        assert response.status_code == 200, path
        assert response.headers.get("access-control-allow-origin") == "*", path
        assert "access-control-allow-credentials" not in response.headers
    for path in INSTITUCIONALES:
        response = httpx.get(api_server + path, headers={"Origin": "https://otro.sitio.example"})
        assert "access-control-allow-origin" not in response.headers, path
    preflight = httpx.options(
        f"{api_server}/ogc/collections",
        headers={"Origin": "https://otro.sitio.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "*"
    refused = httpx.options(
        f"{api_server}/api/sesion",
        headers={"Origin": "https://otro.sitio.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in refused.headers


def _sample_path(template: str) -> str:
    values = {
        "collectionId": "distritos",
        "featureId": "1116",
        "capa": "logros",
        "z": "8",
        "x": "86",
        "y": "143",
        "formato": "csv",
        "codigo": "1116",
        "nivel": "distrito",
        "punto_id": "x",
    }
    return re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: values.get(m.group(1), "x"), template)


def test_head_answers_on_every_get_route_with_the_get_status_and_no_body(api_server):
    from api.app import create_app
    from api.base.registro import _routes

    routes = [r for r in _routes(create_app()) if "GET" in (r.methods or ())]
    assert len(routes) > 20
    with httpx.Client(timeout=60) as client:
        for route in routes:
            path = _sample_path(route.path)
            get = client.get(api_server + path)
            head = client.head(api_server + path)
            assert head.status_code == get.status_code != 405, path
            assert head.content == b"", path
            assert head.headers.get("content-type") == get.headers.get("content-type"), path


def test_limit_above_the_maximum_is_clamped_not_refused(api_server, pilotos):
    response = httpx.get(f"{api_server}/ogc/collections/cobertura/items?limit=50000", timeout=60)
    assert response.status_code == 200
    with psycopg.connect(pilotos["url"]) as conn:
        total = conn.execute("SELECT count(*) FROM publico.cobertura").fetchone()[0]
    assert total < 10_000 and response.json()["numberReturned"] == total


def test_unknown_query_parameters_are_a_400_naming_them(api_server):
    base = f"{api_server}/ogc/collections/cobertura_distrito/items"
    for params, named in (
        ({"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326", "bbox": "-25.9,-57.8,-25.5,-57.4"}, "bbox-crs"),
        ({"colour": "rojo"}, "colour"),
        ({"limite": "5"}, "limite"),
    ):
        response = httpx.get(base, params=params)
        assert response.status_code == 400, params
        assert response.headers["content-type"].startswith("application/problem+json")
        assert f"'{named}'" in response.json()["detail"]
    ok = httpx.get(base, params={"bbox-crs": CRS84, "bbox": "-57.8,-25.9,-57.4,-25.5"})
    assert ok.status_code == 200 and ok.json()["numberReturned"] > 0
    assert httpx.get(f"{api_server}/ogc/collections/distritos/items/1116?color=1").status_code == 400


def test_openapi_says_bbox_is_4_or_6_numbers_and_errors_are_400_problem_json(api_server):
    document = httpx.get(f"{api_server}/openapi.json").json()
    items = document["paths"]["/ogc/collections/{collectionId}/items"]["get"]
    bbox = next(p for p in items["parameters"] if p["name"] == "bbox")
    assert bbox["schema"] == {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}
    assert bbox["style"] == "form" and bbox["explode"] is False
    limit = next(p for p in items["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 10_000
    assert "application/problem+json" in items["responses"]["400"]["content"]
    text = httpx.get(f"{api_server}/openapi.json").text
    assert '"422"' not in text and "HTTPValidationError" not in text
    # … and the server does send that for a bad bbox.
    bad = httpx.get(f"{api_server}/ogc/collections/distritos/items?bbox=1,2,3")
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
