"""Vector tiles against a copy of the computed pilot database, through a real uvicorn.

Tiles are decoded with mapbox-vector-tile and compared with ``publico.cobertura`` rows read
directly; tile coordinates are computed with the slippy-map formula, not with the code
under test.
"""

from __future__ import annotations

import math
import time

import h3
import httpx
import mapbox_vector_tile
import numpy as np
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.institucional import clone_database
from tests.servidor_local import serve


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


@pytest.fixture(scope="module")
def base_url(pilotos):
    """A copy of the pilot database (this module publishes new versions in it), prepared."""
    from tiles.publicacion import preparar_publicacion

    url = clone_database(pilotos["url"], "teselas")
    with psycopg.connect(url) as conn:
        result = preparar_publicacion(conn)
    assert result["geometrias"] > 0 and result["leyendas"] > 0
    return url


@pytest.fixture(scope="module")
def server(base_url):
    yield from serve(base_url)


def rows(url: str, query: str, params=()) -> list[dict]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        names = [d.name for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


def measure_columns(url: str, pattern: str) -> list[str]:
    return [r["columna"] for r in rows(url, "SELECT columna FROM publico.medida WHERE columna ~ %s", (pattern,))]


def area_with_tile(url: str, where: str, z: int) -> dict:
    """One publico.cobertura row matching ``where``, with the z-tile holding a point inside it."""
    row = rows(
        url,
        "SELECT *, ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat"
        f" FROM publico.cobertura WHERE {where} AND geom IS NOT NULL ORDER BY codigo LIMIT 1",
    )[0]
    row["tile"] = (z, *tile_of(row["lon"], row["lat"], z))
    return row


def get_tile(server: str, capa: str, tile, **params) -> httpx.Response:
    z, x, y = tile
    return httpx.get(f"{server}/tiles/{capa}/{z}/{x}/{y}.mvt", params=params, timeout=30)


def features(response: httpx.Response, capa: str) -> list[dict]:
    assert response.status_code == 200, response.text
    decoded = mapbox_vector_tile.decode(response.content)  # httpx undoes the gzip encoding
    return decoded[capa]["features"]


def same(a, b) -> bool:
    return np.float32(a) == np.float32(b) if isinstance(a, float) or isinstance(b, float) else a == b


def test_a_districts_values_in_the_tile_equal_its_row_and_nothing_else(server, base_url):
    logros = measure_columns(base_url, r"^l[0-9]+_pct$")
    assert len(logros) == 10
    row = area_with_tile(base_url, "nivel = 'distrito' AND NOT reservado", 8)
    feature = next(
        f
        for f in features(get_tile(server, "logros", row["tile"]), "logros")
        if f["properties"]["codigo"] == row["codigo"]
    )
    expected = {"codigo": row["codigo"], "nombre": row["nombre"]}
    expected.update({m: row[m] for m in logros if row[m] is not None})
    assert set(feature["properties"]) == set(expected)
    assert all(same(feature["properties"][k], v) for k, v in expected.items())
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_gap_counts_in_the_tile_are_the_published_integers(server, base_url):
    gaps = measure_columns(base_url, r"_(sin|con)_oferta$")
    row = area_with_tile(base_url, "nivel = 'h3_6' AND NOT reservado", 10)
    feature = next(
        f
        for f in features(get_tile(server, "brechas", row["tile"]), "brechas")
        if f["properties"]["codigo"] == row["codigo"]
    )
    published = {m: row[m] for m in gaps if row[m] is not None}
    assert published and all(v % 5 == 0 for v in published.values())
    assert {k: v for k, v in feature["properties"].items() if k in gaps} == published


def test_the_level_follows_the_zoom_of_the_layer_definition(server, base_url):
    row = area_with_tile(base_url, "nivel = 'h3_8' AND NOT reservado", 13)
    lon, lat = row["lon"], row["lat"]
    for z, expected in [(5, "departamento"), (8, "distrito"), (9, 5), (10, 6), (12, 7), (13, 8), (14, 8)]:
        found = features(get_tile(server, "logros", (z, *tile_of(lon, lat, z))), "logros")
        codes = {f["properties"]["codigo"] for f in found}
        assert codes, z
        if expected == "departamento":
            assert all(len(c) == 2 for c in codes)
        elif expected == "distrito":
            assert all(len(c) == 4 for c in codes)
        else:
            assert {h3.get_resolution(c) for c in codes} == {expected}, z


def test_reserved_areas_carry_only_code_name_and_the_reserved_flag(server, base_url):
    # Reserved res-7/8 cells are not listed at all (disclosure control); res-6 ones are.
    row = area_with_tile(base_url, "nivel = 'h3_6' AND reservado", 10)
    for capa in ("logros", "brechas", "accesibilidad"):
        feature = next(
            f for f in features(get_tile(server, capa, row["tile"]), capa) if f["properties"]["codigo"] == row["codigo"]
        )
        assert feature["properties"] == {"codigo": row["codigo"], "nombre": row["nombre"], "reservado": True}


def test_published_areas_have_no_reserved_property(server, base_url):
    row = area_with_tile(base_url, "nivel = 'distrito' AND NOT reservado", 7)
    found = features(get_tile(server, "logros", row["tile"]), "logros")
    published = {
        r["codigo"]
        for r in rows(base_url, "SELECT codigo FROM publico.cobertura WHERE nivel = 'distrito' AND NOT reservado")
    }
    tile_codes = {f["properties"]["codigo"] for f in found}
    assert row["codigo"] in tile_codes
    for f in found:
        assert ("reservado" in f["properties"]) == (f["properties"]["codigo"] not in published)


def test_points_layer_says_real_or_synthetic_and_carries_no_other_field(server, base_url):
    point = rows(
        base_url,
        "SELECT punto_id, nombre, tipo, institucion, origen, lon, lat FROM oferta.punto_entrega"
        " WHERE origen LIKE 'real:%%' ORDER BY punto_id LIMIT 1",
    )[0]
    found = features(get_tile(server, "puntos", (12, *tile_of(point["lon"], point["lat"], 12))), "puntos")
    feature = next(f for f in found if f["properties"]["codigo"] == point["punto_id"])
    assert feature["properties"] == {
        "codigo": point["punto_id"],
        "nombre": point["nombre"],
        "tipo": point["tipo"],
        "institucion": point["institucion"],
        "origen": point["origen"],
    }


def test_territory_base_map_has_every_department_at_low_zoom(server, base_url):
    departments = {r["codigo"] for r in rows(base_url, "SELECT codigo FROM territorio.departamento")}
    seen = set()
    (x0, y0), (x1, y1) = tile_of(-62.7, -19.2, 6), tile_of(-54.2, -27.7, 6)  # Paraguay's bounding box
    for x, y in [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]:
        response = get_tile(server, "territorio", (6, x, y))
        if response.status_code == 200:
            seen |= {f["properties"]["codigo"] for f in features(response, "territorio")}
    assert seen == departments


def test_a_tile_with_nothing_in_it_answers_204(server):
    response = get_tile(server, "logros", (8, *tile_of(-30.0, -20.0, 8)))  # South Atlantic
    assert response.status_code == 204 and response.content == b""


@pytest.mark.parametrize("tile", [(8, 256, 10), (8, 10, -1), (20, 1, 1), (3, 8, 2), (0, 0, 1)])
def test_tiles_outside_the_tile_matrix_are_404_in_spanish(server, tile):
    response = get_tile(server, "logros", tile)
    assert response.status_code == 404
    assert "fuera de la matriz" in response.json()["detail"]


def test_unknown_layer_is_404_in_spanish(server):
    response = get_tile(server, "inexistente", (8, 80, 140))
    assert response.status_code == 404 and "Capa desconocida" in response.json()["detail"]


def current_version(url: str) -> str:
    return rows(url, "SELECT data_version FROM publico.version WHERE vigente")[0]["data_version"]


def test_tilejson_embeds_the_current_data_version(server, base_url):
    body = httpx.get(f"{server}/capas/logros/tilejson.json").json()
    version = current_version(base_url)
    assert body["tilejson"] == "3.0.0"
    assert body["tiles"] == [f"{server}/tiles/logros/{{z}}/{{x}}/{{y}}.mvt?v={version}"]
    fields = body["vector_layers"][0]["fields"]
    assert set(fields) == {"codigo", "nombre", "reservado", *measure_columns(base_url, r"^l[0-9]+_pct$")}
    assert (body["minzoom"], body["maxzoom"]) == (0, 14)


def test_versioned_tiles_are_immutable_and_unversioned_short_lived(server, base_url):
    row = area_with_tile(base_url, "nivel = 'distrito' AND NOT reservado", 8)
    template = httpx.get(f"{server}/capas/logros/tilejson.json").json()["tiles"][0]
    z, x, y = row["tile"]
    versioned = httpx.get(template.format(z=z, x=x, y=y))
    assert versioned.status_code == 200
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert versioned.headers["content-encoding"] == "gzip"
    assert versioned.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    etag = versioned.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    plain = get_tile(server, "logros", row["tile"])
    assert plain.headers["cache-control"] == "public, max-age=60"
    assert plain.headers["etag"] == etag and plain.content == versioned.content
    assert plain.headers["content-type"] == "application/vnd.mapbox-vector-tile"  # a cache hit
    assert plain.headers["content-encoding"] == "gzip"
    identity = httpx.get(f"{server}/tiles/logros/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in identity.headers and identity.content == plain.content


def test_if_none_match_with_the_etag_answers_304_without_a_body(server, base_url):
    row = area_with_tile(base_url, "nivel = 'distrito' AND NOT reservado", 8)
    first = get_tile(server, "logros", row["tile"])
    z, x, y = row["tile"]
    again = httpx.get(
        f"{server}/tiles/logros/{z}/{x}/{y}.mvt",
        params={"v": current_version(base_url)},
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304 and again.content == b""
    other = httpx.get(f"{server}/tiles/logros/{z}/{x}/{y}.mvt", headers={"If-None-Match": '"otra-cosa"'})
    assert other.status_code == 200


def test_a_version_that_is_not_current_redirects_briefly_to_the_same_tile_of_the_current_one(server, base_url):
    """A viewer left open across a release keeps its map: the old ?v= is sent to the current
    version's tile (307, cached seconds, not a year), which is then served immutable."""
    current = current_version(base_url)
    response = get_tile(server, "logros", (8, 86, 143), v="0123456789abcdef")
    assert response.status_code == 307
    assert response.headers["location"] == f"/tiles/logros/8/86/143.mvt?v={current}"
    assert response.headers["cache-control"] == "public, max-age=10"
    assert response.headers["access-control-allow-origin"] == "*"
    followed = httpx.get(f"{server}/tiles/logros/8/86/143.mvt", params={"v": "0123456789abcdef"}, follow_redirects=True)
    direct = get_tile(server, "logros", (8, 86, 143), v=current)
    assert followed.status_code == direct.status_code and followed.content == direct.content
    assert "immutable" in followed.headers["cache-control"] and followed.headers["x-data-version"] == current
    assert get_tile(server, "logros", (8, 86, 143), v="no/una versión").status_code == 404


def test_y_with_the_database_unreachable_cached_tiles_are_served_and_it_recovers(server, base_url):
    """The public role loses CONNECT on this module's own copy of the database (nothing shared)."""
    from geoportal.cluster import PUBLIC_ROLE

    row = area_with_tile(base_url, "nivel = 'distrito' AND NOT reservado", 8)
    cached = get_tile(server, "logros", row["tile"])
    assert cached.status_code == 200
    z, x, y = row["tile"]
    uncached = (z, x + 1, y)  # a neighbour never asked for
    name = make_url(base_url).database
    with psycopg.connect(base_url, autocommit=True) as admin:
        try:
            admin.execute(f'REVOKE CONNECT ON DATABASE "{name}" FROM PUBLIC, "{PUBLIC_ROLE}"')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s AND datname = %s",
                (PUBLIC_ROLE, name),
            )
            time.sleep(1.2)
            again = get_tile(server, "logros", row["tile"])
            assert again.status_code == 200 and again.content == cached.content
            down = get_tile(server, "logros", uncached)
            assert down.status_code == 503 and "no está disponible" in down.json()["detail"]
        finally:
            admin.execute(f'GRANT CONNECT ON DATABASE "{name}" TO PUBLIC')
    deadline = time.monotonic() + 30
    while get_tile(server, "logros", uncached).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert get_tile(server, "logros", uncached).status_code in (200, 204)


def test_zz_a_new_publication_drops_the_cache_and_tiles_show_the_new_values(server, base_url):
    """Runs last in this module: it publishes a new version (one status event more)."""
    from geoportal.actualizacion import compute_district
    from geoportal.publicacion import publish
    from tests.conftest import FECHA_CORTE
    from tiles.publicacion import preparar_publicacion

    row = area_with_tile(base_url, "nivel = 'distrito' AND NOT reservado", 8)
    before = get_tile(server, "servicios", row["tile"])
    old_version = current_version(base_url)
    old_template = httpx.get(f"{server}/capas/servicios/tilejson.json").json()["tiles"][0]
    # Every person of the district lacking a service gets it from an administrative record.
    with psycopg.connect(base_url) as conn:
        district = conn.execute(
            "SELECT codigo FROM territorio.distrito WHERE codigo_2012 = %s ORDER BY codigo LIMIT 1", (row["codigo"],)
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
            " SELECT 'persona', p.persona_id, 'CEDULA', true, %s, 'prueba' FROM nominal.persona p"
            " JOIN nominal.hogar h USING (hogar_id) WHERE h.codigo_distrito = %s",
            (FECHA_CORTE, district),
        )
        conn.commit()
        compute_district(conn, district, fecha_corte=FECHA_CORTE)
        publish(conn, forzar=True)  # public releases are batched: publish now
    new_version = current_version(base_url)
    assert new_version != old_version
    time.sleep(1.2)  # the service re-reads the version at most once a second
    after = get_tile(server, "servicios", row["tile"])  # not prepared yet: simplified on the fly
    new_row = rows(
        base_url, "SELECT * FROM publico.cobertura WHERE nivel = 'distrito' AND codigo = %s", (row["codigo"],)
    )[0]
    feature = next(f for f in features(after, "servicios") if f["properties"]["codigo"] == row["codigo"])
    assert same(feature["properties"]["cedula_pct"], new_row["cedula_pct"])
    assert not same(row["cedula_pct"], new_row["cedula_pct"])
    assert after.headers["etag"] != before.headers["etag"]
    assert after.headers["x-data-version"] == new_version
    z, x, y = row["tile"]
    old = httpx.get(old_template.format(z=z, x=x, y=y), follow_redirects=True)  # a viewer still open
    assert old.status_code == 200 and old.headers["x-data-version"] == new_version
    with psycopg.connect(base_url) as conn:
        result = preparar_publicacion(conn)
    assert result["data_version"] == new_version
    assert result["nuevas"] < result["geometrias"]  # a district update rebuilds only what changed
    time.sleep(1.2)
    prepared = get_tile(server, "servicios", row["tile"], v=new_version)
    feature = next(f for f in features(prepared, "servicios") if f["properties"]["codigo"] == row["codigo"])
    assert same(feature["properties"]["cedula_pct"], new_row["cedula_pct"])
