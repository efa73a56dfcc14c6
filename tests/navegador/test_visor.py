"""The web viewer in a real browser: Debian's Chromium driven by Playwright, against a
real uvicorn serving a prepared copy of the computed pilot database.

Expected figures are read directly from ``publico`` / ``oferta`` (or computed here, e.g.
geodesic distances), never from the viewer. Every page opened records its console
errors and its requests; each test ends by asserting there were none of the first and
that no request left 127.0.0.1. Screenshots go to ``GEOPORTAL_ARTEFACTOS`` (default
``tests/artefactos/``).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import psycopg
import pytest

from tests.institucional import clone_database
from tests.rutas import ARTEFACTOS, CHROMIUM, CHROMIUM_ARGS, RAIZ
from tests.servidor_local import serve

DIST = RAIZ / "web" / "dist" / "index.html"
VILLETA = "1116"


ROOT = RAIZ


def es_py(value: float, decimals: int = 1) -> str:
    """A number as the viewer must write it (es-PY: 1.234,5; trailing zeros dropped)."""
    text = f"{round(value, decimals):,.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{round(value):,}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def rows(url: str, query: str, params=()) -> list[dict]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        names = [d.name for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


def published_copy(pilotos, name: str) -> str:
    """A copy of the pilot database, prepared for the map service as after a publication."""
    from tiles.publicacion import preparar_publicacion

    url = clone_database(pilotos["url"], name)
    with psycopg.connect(url) as conn:
        preparar_publicacion(conn)
    return url


def serve_viewer(url: str):
    """The real server with the built viewer (web/dist) against ``url``."""
    if not DIST.is_file():
        pytest.fail("Falta web/dist: ejecute `bash scripts/setup.sh` (construye el visor con npm).")
    yield from serve(url)


@pytest.fixture(scope="module")
def base_url(pilotos):
    return published_copy(pilotos, "visor")


@pytest.fixture(scope="module")
def server(base_url):
    yield from serve_viewer(base_url)


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Falta /usr/bin/chromium: `make test` lo instala (paquete chromium de Debian).")
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            locale="es-PY",
            viewport={"width": 1366, "height": 860},
            accept_downloads=True,
        )
        yield context
        context.close()


class Pagina:
    """A page that records console errors and every request it makes."""

    def __init__(self, context, base: str):
        self.base = base
        self.page = context.new_page()
        self.errores: list[str] = []
        self.pedidos: list[str] = []
        self.fallidos: list[str] = []
        self.page.on("response", lambda r: r.status >= 400 and self.fallidos.append(f"{r.status} {r.url}"))
        self.page.on("console", lambda m: m.type == "error" and self.errores.append(m.text))
        self.page.on("pageerror", lambda e: self.errores.append(str(e)))
        self.page.on("request", lambda r: self.pedidos.append(r.url))

    def abrir(self, path: str = "/"):
        self.page.goto(self.base + path)
        self.page.wait_for_selector("body[data-listo=si]", timeout=30_000)
        self.esperar_teselas()
        return self.page

    def esperar_teselas(self):
        self.page.wait_for_function(
            "() => { const t = window.geoportal.tematica; return t && !t.isLoading() && t.dibujados.size > 0; }",
            timeout=30_000,
        )
        self.page.wait_for_timeout(300)

    def dibujados(self) -> set[str]:
        return set(self.page.evaluate("() => [...window.geoportal.tematica.dibujados]"))

    def pedidos_de_teselas(self) -> list[str]:
        return [u for u in self.pedidos if "/tiles/" in u]

    def captura(self, nombre: str) -> Path:
        ARTEFACTOS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTOS / nombre
        self.page.screenshot(path=str(path), full_page=False)
        return path

    def centro_en_pixel(self, lon: float, lat: float) -> tuple[float, float]:
        """Page coordinates of a geographic point on the Leaflet map."""
        x, y = self.page.evaluate(
            "([lat, lon]) => { const m = window.geoportal.mapa; const p = m.latLngToContainerPoint([lat, lon]);"
            " const r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }",
            [lat, lon],
        )
        return x, y


@pytest.fixture
def pagina(chromium, server):
    pagina = Pagina(chromium, server)
    yield pagina
    pagina.page.close()
    assert pagina.errores == [], f"errores en la consola del navegador: {pagina.errores}"
    fuera = [u for u in pagina.pedidos if not u.startswith(("http://127.0.0.1:", "data:"))]
    assert fuera == [], f"la página pidió recursos fuera de 127.0.0.1: {fuera}"


def _punto_interior(url: str, codigo: str) -> tuple[float, float]:
    r = rows(
        url,
        "SELECT ST_X(p) lon, ST_Y(p) lat FROM (SELECT ST_PointOnSurface(geom) p FROM"
        " territorio.distrito_cartografico WHERE codigo_2012 = %s) s",
        (codigo,),
    )[0]
    return r["lon"], r["lat"]


def test_national_map_paints_every_published_department_and_the_base_map(pagina, base_url):
    page = pagina.abrir("/")
    published = {
        r["codigo"] for r in rows(base_url, "SELECT codigo FROM publico.cobertura WHERE nivel = 'departamento'")
    }
    assert len(published) == 4
    assert pagina.dibujados() == published
    # Features are really drawn: coloured paths in the thematic pane, outlines of all 18 departments in the base.
    colored = page.locator(".leaflet-tematica-pane path[class*=clase-]").count()
    assert colored >= len(published)
    outlines = page.locator(".leaflet-limites-pane path").count()
    assert outlines >= 18
    assert page.title() == "Geoportal SPS «Vamos!»"
    assert "Datos de hogares y personas sintéticos" in page.inner_text(".cabecera")
    version = rows(base_url, "SELECT data_version FROM publico.version WHERE vigente")[0]["data_version"]
    assert page.text_content("#data-version") == version  # in the footer's "Detalles técnicos" fold
    sources = page.text_content("#atribucion-fuentes")
    assert "INE" in sources and "GeoNames" in sources and "MEC" in sources
    assert all(f"v={version}" in u for u in pagina.pedidos_de_teselas())
    pagina.captura("visor-nacional.png")


def test_switching_layer_changes_the_legend_and_the_tile_urls(pagina, base_url):
    page = pagina.abrir("/?capa=logros&medida=l1_pct")
    assert pagina.pedidos_de_teselas() and all(
        "/tiles/logros/" in u or "/tiles/territorio/" in u for u in pagina.pedidos_de_teselas()
    )
    label = rows(base_url, "SELECT etiqueta FROM publico.medida WHERE columna = 'l1_pct'")[0]["etiqueta"]
    assert page.inner_text("#leyenda .leyenda-titulo") == label
    before = len(pagina.pedidos)
    page.select_option("#capa", "brechas")
    pagina.esperar_teselas()
    new = [u for u in pagina.pedidos[before:] if "/tiles/" in u]
    assert new and all("/tiles/brechas/" in u for u in new if "/tiles/territorio/" not in u)
    stored = rows(
        base_url,
        "SELECT l.medida, l.colores, m.etiqueta FROM publico.leyenda l JOIN publico.medida m"
        " ON m.columna = l.medida WHERE l.capa = 'brechas' AND l.nivel = 'departamento'"
        " AND l.medida = 'cpn_sin_oferta'",
    )[0]
    assert page.inner_text("#leyenda .leyenda-titulo") == f"{stored['etiqueta']} (personas)"  # counts carry their unit
    swatches = page.eval_on_selector_all(
        "#leyenda .leyenda-clases li.clase .muestra", "els => els.map(e => e.style.background)"
    )
    expected = [f"rgb({int(c[1:3], 16)}, {int(c[3:5], 16)}, {int(c[5:7], 16)})" for c in stored["colores"]]
    assert swatches == expected
    assert "Reservado" in page.inner_text("#leyenda") and "Sin dato" in page.inner_text("#leyenda")
    assert parse_qs(urlparse(page.url).query)["capa"] == ["brechas"]


def test_clicking_villeta_shows_the_same_numbers_as_the_territory_profile(pagina, base_url, server):
    lon, lat = _punto_interior(base_url, VILLETA)
    page = pagina.abrir(f"/?capa=logros&medida=l3_pct&z=8&lat={lat}&lon={lon}")
    page.mouse.click(*pagina.centro_en_pixel(lon, lat))
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    row = rows(base_url, "SELECT * FROM publico.cobertura WHERE nivel = 'distrito' AND codigo = %s", (VILLETA,))[0]
    assert "Villeta" in popup.inner_text()
    page.wait_for_selector(".popup-extra .denominador")
    # The popup's figure and its denominator are the published ones.
    assert f"{es_py(row['l3_pct'])} %" in popup.inner_text()
    assert f"de {es_py(row['l3_universo'], 0)} personas identificadas" in popup.inner_text()
    page.click(".abrir-perfil")
    page.wait_for_selector("#perfil .logro")
    profile = httpx.get(f"{server}/api/territorios/{VILLETA}").json()
    logros = page.locator("#perfil .logro")
    assert logros.count() == 10
    for i in range(10):
        text = logros.nth(i).inner_text()
        n = i + 1
        assert text.startswith(f"Logro {n}")
        assert profile["logros"][i]["porcentaje"] == row[f"l{n}_pct"]
        if row[f"l{n}_pct"] is not None:
            assert f"{es_py(row[f'l{n}_pct'])} %" in text
            assert f"de {es_py(row[f'l{n}_universo'], 0)} " in text
        if row[f"l{n}_meta"] is not None:
            assert f"meta {es_py(row[f'l{n}_meta'])} %" in text
    first_gap = page.locator("#perfil .brecha").first
    assert es_py(profile["brechas"][0]["brecha"], 0) in first_gap.inner_text()
    assert f"{es_py(row['relevamiento_pct'])} %" in page.inner_text("#perfil .relevamiento")
    assert parse_qs(urlparse(page.url).query)["t"] == [VILLETA]
    # "Ver en el mapa" outlines the gap's H3 cells.
    first_gap.locator(".ver-en-mapa").click()
    page.wait_for_selector("body[data-resaltadas]")
    assert int(page.get_attribute("body", "data-resaltadas")) == len(profile["brechas"][0]["donde_h3_7"])
    assert page.locator(".leaflet-resalte-pane path.resaltado").count() == len(profile["brechas"][0]["donde_h3_7"])
    page.wait_for_timeout(1500)  # the zoom animation to the cells' level
    pagina.esperar_teselas()
    pagina.captura("visor-perfil-distrito.png")
    # The printable sheet: only the profile.
    page.emulate_media(media="print")
    assert page.locator("#perfil").is_visible() and not page.locator("#panel").is_visible()
    assert not page.locator("#mapa").is_visible()
    page.emulate_media(media="screen")


@pytest.mark.parametrize(
    ("typed", "expected", "code"),
    [
        ("boqueron", "Boquerón", "16"),
        ("VILLETA", "Villeta", "1116"),
        ("mcal jose", "Mariscal José Félix Estigarribia", "1602"),
    ],
)
def test_search_without_accents_finds_the_territory_and_opens_its_profile(pagina, typed, expected, code):
    page = pagina.abrir("/")
    page.fill("#buscar", typed)
    first = page.locator("#resultados li[data-i]").first
    first.wait_for()
    assert expected in first.inner_text()
    page.press("#buscar", "ArrowDown")
    page.press("#buscar", "Enter")
    page.wait_for_selector("#perfil .logro")
    assert expected.lower() in page.inner_text("#perfil-titulo").lower()
    assert parse_qs(urlparse(page.url).query)["t"] == [code]


def test_service_points_show_from_the_national_view_with_the_guides_colours_and_open_a_popup(pagina, base_url):
    """Points at national zoom (no tile below the layer's minimum zoom), one colour per type
    everywhere (the legend uses the palette of "servicios cerca de mí"), a click opens its popup."""
    import re

    page = pagina.abrir("/?capa=puntos&z=6&lat=-23.4&lon=-58.4")
    assert [u for u in pagina.pedidos_de_teselas() if "/tiles/puntos/" in u]
    assert [f for f in pagina.fallidos if "/tiles/" in f] == []
    drawn = page.locator(".leaflet-puntos-pane path.leaflet-interactive").count()
    assert drawn > 500, drawn
    pagina.captura("visor-puntos-nacional.png")
    # The guide's palette and the legend's names of each type, read from the viewer's sources.
    guide = dict(re.findall(r'(\w+): "(#[0-9a-f]{6})"', (ROOT / "web/src/servicios.js").read_text()))
    source = (ROOT / "web/src/main.js").read_text()
    declared = source[source.index("const TIPOS_PUNTO") : source.index("};", source.index("const TIPOS_PUNTO"))]
    names = {name: tipo for tipo, name in re.findall(r'(\w+): "([^"]+)"', declared)}
    items = page.eval_on_selector_all(
        "#leyenda .leyenda-clases li",
        "els => els.map(e => [e.innerText.trim(), e.querySelector('.muestra').style.background])",
    )
    assert len(items) >= 5
    for label, colour in items:
        c = guide[names[label]]
        assert colour == f"rgb({int(c[1:3], 16)}, {int(c[3:5], 16)}, {int(c[5:7], 16)})", label
    # Zoomed in, a click on a point opens its popup (it used to throw reading 'lat').
    point = rows(
        base_url,
        "SELECT nombre, ST_X(geom) lon, ST_Y(geom) lat FROM publico.punto_entrega p"
        " WHERE tipo = 'usf' AND NOT EXISTS (SELECT 1 FROM publico.punto_entrega o"
        " WHERE o.codigo <> p.codigo AND ST_DWithin(o.geom, p.geom, 0.003)) ORDER BY codigo LIMIT 1",
    )[0]
    page.evaluate(
        "([lat, lon]) => window.geoportal.mapa.setView([lat, lon], 14, {animate: false})", [point["lat"], point["lon"]]
    )
    page.wait_for_function("() => !window.geoportal.tematica.isLoading()", timeout=30_000)
    page.wait_for_timeout(500)
    page.mouse.click(*pagina.centro_en_pixel(point["lon"], point["lat"]))
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=10_000)
    assert point["nombre"] in popup.inner_text()
    pagina.captura("visor-punto-popup.png")


def _haversine_km(lon1, lat1, lon2, lat2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def test_service_finder_lists_the_nearest_points_with_their_distances(chromium, server, base_url):
    lon, lat = -57.5571, -25.5095  # Villeta, the town
    chromium.grant_permissions(["geolocation"], origin=server)
    chromium.set_geolocation({"latitude": lat, "longitude": lon})
    pagina = Pagina(chromium, server)
    page = pagina.abrir("/")
    page.select_option("#tipo-servicio", "usf")
    page.click("#cerca-mio")
    items = page.locator("#servicios li")
    items.first.wait_for()
    points = rows(base_url, "SELECT nombre, lon, lat FROM oferta.punto_entrega WHERE tipo = 'usf'")
    nearest = sorted(points, key=lambda p: _haversine_km(lon, lat, p["lon"], p["lat"]))[:10]
    assert items.count() == 10
    listed = [items.nth(i).inner_text() for i in range(10)]
    assert nearest[0]["nombre"] in listed[0]
    for i, point in enumerate(nearest[:3]):
        km = _haversine_km(lon, lat, point["lon"], point["lat"])
        shown = items.nth(i).locator(".distancia").inner_text()
        number = float(shown.split()[0].replace(".", "").replace(",", "."))
        value = number / 1000 if shown.endswith(" m") else number
        assert abs(value - km) <= max(0.06, 0.01 * km), (listed[i], km)
    # The points are drawn: one marker per point plus the starting place.
    assert page.locator(".leaflet-puntos-pane path.leaflet-interactive").count() == 11
    chromium.clear_permissions()
    assert pagina.errores == []
    pagina.page.close()


def test_service_finder_from_a_click_on_the_map(pagina):
    page = pagina.abrir("/?capa=logros&z=9&lat=-25.5095&lon=-57.5571")
    page.click("#cerca-clic")
    page.mouse.click(*pagina.centro_en_pixel(-57.5571, -25.5095))
    page.locator("#servicios li").first.wait_for()
    assert page.locator("#servicios li").count() == 10
    assert "el lugar elegido" in page.inner_text("#servicios-estado")


def test_download_of_the_current_layer_and_level_is_valid_geojson(pagina, base_url):
    page = pagina.abrir("/?capa=logros&medida=l1_pct")
    link = page.locator("#descargas a", has_text="GeoJSON")
    assert "nivel=departamento" in link.get_attribute("href")
    with page.expect_download() as info:
        link.click()
    body = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert body["type"] == "FeatureCollection"
    expected = {
        r["codigo"]: r["l1_pct"]
        for r in rows(base_url, "SELECT codigo, l1_pct FROM publico.cobertura WHERE nivel = 'departamento'")
    }
    got = {f["properties"]["codigo"]: f["properties"]["l1_pct"] for f in body["features"]}
    assert got == pytest.approx(expected)
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in body["features"])


def test_url_state_restores_a_view_and_back_forward_work(pagina):
    page = pagina.abrir(f"/?capa=servicios&medida=vacunas_pct&z=9&lat=-25.6000&lon=-57.6000&t={VILLETA}")
    assert page.input_value("#capa") == "servicios" and page.input_value("#medida") == "vacunas_pct"
    assert page.evaluate("() => window.geoportal.mapa.getZoom()") == 9
    center = page.evaluate("() => window.geoportal.mapa.getCenter()")
    assert abs(center["lat"] + 25.6) < 0.01 and abs(center["lng"] + 57.6) < 0.01
    page.wait_for_selector("#perfil .logro")
    assert "Villeta" in page.inner_text("#perfil-titulo")
    assert "Hexágono H3 (res. 5)" in page.inner_text("#nivel-actual")
    page.select_option("#capa", "relevamiento")
    pagina.esperar_teselas()
    assert parse_qs(urlparse(page.url).query)["capa"] == ["relevamiento"]
    page.go_back()
    page.wait_for_function("() => document.getElementById('capa').value === 'servicios'")
    assert page.input_value("#medida") == "vacunas_pct"
    page.go_forward()
    page.wait_for_function("() => document.getElementById('capa').value === 'relevamiento'")


def test_on_a_phone_legend_and_map_are_seen_together_popups_fit_and_the_profile_opens_at_its_top(
    chromium, server, base_url
):
    pagina = Pagina(chromium, server)
    page = pagina.page
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        pagina.abrir("/?capa=logros&medida=l3_pct")
        box = page.locator("#mapa").bounding_box()
        legend = page.locator(".leyenda-mapa")
        assert legend.is_visible()
        inside = legend.bounding_box()
        assert box["y"] <= inside["y"] and inside["y"] + inside["height"] <= box["y"] + box["height"] + 1
        assert inside["y"] + inside["height"] <= 844, "the legend is seen with the map, on the first screen"
        panel = page.eval_on_selector_all(
            "#leyenda .leyenda-clases li.clase .muestra", "els => els.map(e => e.style.background)"
        )
        copy = page.eval_on_selector_all(".leyenda-mapa li.clase .muestra", "els => els.map(e => e.style.background)")
        assert panel and copy == panel
        pagina.captura("visor-telefono-leyenda.png")
        # A district's popup fits in the map: its title and close button can be tapped.
        lon, lat = _punto_interior(base_url, VILLETA)
        page.evaluate("([lat, lon]) => window.geoportal.mapa.setView([lat, lon], 8, {animate: false})", [lat, lon])
        pagina.esperar_teselas()
        page.mouse.click(*pagina.centro_en_pixel(lon, lat))
        popup = page.locator(".leaflet-popup-content-wrapper")
        popup.wait_for()
        page.wait_for_selector(".popup-extra .denominador")
        page.wait_for_timeout(600)  # the pan that brings the popup into view
        pagina.captura("visor-telefono-popup.png")
        shape = popup.bounding_box()
        box = page.locator("#mapa").bounding_box()
        assert shape["height"] <= box["height"] and shape["y"] >= box["y"] - 1, (shape, box)
        close = page.locator(".leaflet-popup-close-button").bounding_box()
        assert box["y"] <= close["y"] and close["x"] + close["width"] <= 390, close
        # The profile opens at its top.
        page.click(".abrir-perfil")
        page.wait_for_selector("#perfil .logro")
        page.wait_for_timeout(300)
        top = page.evaluate("() => document.getElementById('perfil').getBoundingClientRect().top")
        assert -1 < top < 120, top  # at its top, give or take a sub-pixel of layout rounding
        pagina.captura("visor-telefono-perfil.png")
        # Tap targets of at least 24 px.
        for selector in (".cuenta a", ".fuentes summary", ".leaflet-control-attribution a"):
            for target in page.locator(selector).all():
                if target.is_visible():
                    assert target.bounding_box()["height"] >= 24, selector
    finally:
        page.close()
    assert pagina.errores == []


def test_failed_tiles_search_and_profile_say_so_and_offer_a_retry(chromium, server):
    """A 503 from the map service is not an empty grey country, a failed search is not
    "Sin resultados", a failed profile keeps the layout and can be closed or retried."""
    pagina = Pagina(chromium, server)
    page = pagina.page
    try:
        pagina.abrir("/?capa=logros&medida=l3_pct")
        width = page.locator("#mapa").bounding_box()["width"]
        failing = lambda route: route.fulfill(
            status=503,
            content_type="application/problem+json",
            body='{"title": "Servicio no disponible", "status": 503}',
        )
        page.route("**/tiles/**", failing)
        page.evaluate("() => window.geoportal.mapa.setZoom(7, {animate: false})")
        page.wait_for_selector(".estado-mapa.error", timeout=15_000)
        assert "No se pudieron cargar" in page.inner_text(".estado-mapa")
        pagina.captura("visor-teselas-fallidas.png")
        page.unroute("**/tiles/**")
        page.click(".estado-mapa .reintentar")
        page.wait_for_function("() => !document.querySelector('.estado-mapa.error')", timeout=15_000)
        pagina.esperar_teselas()
        page.route("**/api/buscar**", failing)
        page.fill("#buscar", "villeta")
        page.wait_for_selector("#resultados .error-busqueda")
        assert "No se pudo buscar" in page.inner_text("#resultados")
        page.route("**/api/territorios/**", failing)
        page.unroute("**/api/buscar**")
        page.fill("#buscar", "villet")
        page.locator("#resultados li[data-i]").first.click()
        page.wait_for_selector(".error-perfil")
        assert "No se pudo abrir el perfil" in page.inner_text("#perfil")
        pagina.captura("visor-perfil-fallido.png")
        assert abs(page.locator("#mapa").bounding_box()["width"] - width) < width * 0.5, "the map keeps its place"
        page.click(".cerrar-error-perfil")
        assert page.locator("#perfil").is_hidden()
    finally:
        page.close()
    # The failed requests themselves are logged by the browser; nothing else went wrong.
    assert [e for e in pagina.errores if "503" not in e] == []


def test_phone_layout_at_360_pixels_is_usable(chromium, server):
    pagina = Pagina(chromium, server)
    pagina.page.set_viewport_size({"width": 360, "height": 740})
    page = pagina.abrir("/")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, "la página no debe desbordar a lo ancho en un teléfono"
    box = page.locator("#mapa").bounding_box()
    assert box["width"] >= 340 and box["height"] >= 300
    pagina.captura("visor-telefono-360.png")
    page.click("#plegar")
    assert not page.locator("#capa").is_visible()
    page.click("#plegar")
    page.locator("#capa").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "medida"
    assert pagina.errores == []
    pagina.page.close()


CONTRASTE_JS = """
(selectors) => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const fondo = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const s of selectors) {
    for (const el of document.querySelectorAll(s)) {
      if (!el.offsetParent || !el.textContent.trim()) continue;
      const a = lum(rgb(getComputedStyle(el).color)), b = lum(fondo(el));
      out.push([s, el.textContent.trim().slice(0, 30), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]);
    }
  }
  return out;
}
"""


def test_text_contrast_meets_wcag_aa(pagina):
    page = pagina.abrir(f"/?capa=logros&t={VILLETA}")
    page.wait_for_selector("#perfil .logro")
    measured = page.evaluate(
        CONTRASTE_JS,
        [
            ".cabecera h1",
            ".aviso",
            "label",
            ".nota",
            ".leyenda-clases li",
            "button",
            ".pie span",
            ".logro-cifras",
            ".logro-titulo",
            ".brecha",
            ".fuentes summary",
        ],
    )
    assert len(measured) > 30
    low = [m for m in measured if m[2] < 4.5]
    assert low == [], f"texto con contraste menor que 4,5:1 (WCAG AA): {low}"
