"""Issue 22, the public's points, in a real Chromium at desktop (1366×768) and phone
(390×844) size against the computed pilot database: districts without survey (1),
saying what is measured (5), context on the map (6), search and wording (7), and axe-core.

In the pilot database only the four pilot districts are surveyed, so every other district
(Capiatá 1102 among them) is a district without survey. Expected figures are read from
``territorio`` / ``publico`` / ``oferta`` directly or computed here (pyproj), never by the
viewer or the API under test. Each test saves a screenshot under ``tests/artefactos/``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.navegador.test_visor import DIST, Pagina, chromium, es_py, published_copy, rows, serve_viewer  # noqa: F401  (chromium: fixture)
from tests.rutas import RAIZ

CAPIATA = "1102"
VILLETA = "1116"
NEMBY = "1112"
AXE = RAIZ / "web" / "node_modules" / "axe-core" / "axe.min.js"
TAMANOS = {"escritorio": {"width": 1366, "height": 768}, "movil": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def base_url(pilotos):
    return published_copy(pilotos, "visor_publico")


@pytest.fixture(scope="module")
def server(base_url):
    yield from serve_viewer(base_url)


@pytest.fixture(params=list(TAMANOS))
def pagina(request, chromium, server):
    pagina = Pagina(chromium, server)
    pagina.tamano = request.param
    pagina.page.set_viewport_size(TAMANOS[request.param])
    yield pagina
    pagina.page.close()
    assert pagina.errores == [], f"errores en la consola del navegador: {pagina.errores}"
    fuera = [u for u in pagina.pedidos if not u.startswith(("http://127.0.0.1:", "data:"))]
    assert fuera == [], f"la página pidió recursos fuera de 127.0.0.1: {fuera}"


def _plegar_leyenda(page) -> None:
    """On a phone the compact legend on the map is open at first (a tap folds it), and the
    map may be scrolled away by an open profile: bring the map back on screen."""
    page.evaluate(
        "() => { const l = document.querySelector('.leyenda-mapa'); if (l) l.open = false;"
        " document.getElementById('mapa').scrollIntoView({block: 'start'}); }"
    )
    page.wait_for_timeout(200)


def _captura(pagina, nombre: str) -> Path:
    path = pagina.captura(f"{nombre}-{pagina.tamano}.png")
    assert path.stat().st_size > 10_000  # a real picture, not an empty page
    return path


def _censo(base_url: str, codigo: str) -> int:
    """Census 2022 population of a 2012 polygon: its 2022 districts summed."""
    return rows(base_url, "SELECT sum(pob_total)::int n FROM territorio.distrito WHERE codigo_2012 = %s", (codigo,))[0][
        "n"
    ]


def _punto_interior(url: str, codigo: str) -> tuple[float, float]:
    r = rows(
        url,
        "SELECT ST_X(p) lon, ST_Y(p) lat FROM (SELECT ST_PointOnSurface(geom) p FROM"
        " territorio.distrito_cartografico WHERE codigo_2012 = %s) s",
        (codigo,),
    )[0]
    return r["lon"], r["lat"]


def _sin_relevamiento(base_url: str) -> set[tuple[str, str]]:
    territory = {("departamento", r["codigo"]) for r in rows(base_url, "SELECT codigo FROM territorio.departamento")}
    territory |= {
        ("distrito", r["codigo_2012"])
        for r in rows(base_url, "SELECT codigo_2012 FROM territorio.distrito_cartografico")
    }
    published = {(r["nivel"], r["codigo"]) for r in rows(base_url, "SELECT nivel, codigo FROM publico.cobertura")}
    return territory - published


def _url_con_t(page, codigo: str) -> None:
    """The URL names the territory (it is written right after the profile is drawn)."""
    page.wait_for_function("(c) => new URLSearchParams(location.search).get('t') === c", arg=codigo)


# ------------------------------------------------------------------ 1. districts with no survey


def test_a_district_without_survey_has_a_public_profile_not_an_error(server, base_url):
    from pyproj import Geod

    assert ("distrito", CAPIATA) in _sin_relevamiento(base_url)
    r = httpx.get(f"{server}/api/territorios/{CAPIATA}")
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["sin_relevamiento"] is True and p["nombre"] == "Capiatá" and p["nivel"] == "distrito"
    assert p["poblacion_censo_2022"] == _censo(base_url, CAPIATA)
    assert p["relevamiento"]["relevamiento_pct"] == 0 and p["logros"] == [] and p["brechas"] == []
    # Privacy: only public facts (census, names, public delivery points) are in the answer.
    assert set(p) <= {
        "nivel",
        "codigo",
        "nombre",
        "padre",
        "bbox",
        "reservado",
        "sin_relevamiento",
        "data_version",
        "nota_sdc",
        "poblacion_censo_2022",
        "logros",
        "brechas",
        "servicios_cercanos",
        "relevamiento",
        "cambio_desde_version_anterior",
        "reservado_texto",
    }
    # The nearest USF, found here by brute force over every USF with pyproj's geodesic.
    lon, lat = _punto_interior(base_url, CAPIATA)
    geod = Geod(ellps="WGS84")
    usf = rows(base_url, "SELECT punto_id, lon, lat FROM oferta.punto_entrega WHERE tipo = 'usf'")
    nearest = min(usf, key=lambda u: geod.inv(lon, lat, u["lon"], u["lat"])[2])
    mine = next(s for s in p["servicios_cercanos"] if s["tipo"] == "usf")
    assert mine["punto_id"] == nearest["punto_id"]
    assert mine["distancia_km"] == pytest.approx(geod.inv(lon, lat, nearest["lon"], nearest["lat"])[2] / 1000, abs=0.06)
    # The list of territories without survey is exactly territory minus publication.
    listed = {(t["nivel"], t["codigo"]) for t in httpx.get(f"{server}/api/sin-relevamiento").json()["territorios"]}
    assert {t for t in listed if not t[1].startswith("D")} == _sin_relevamiento(base_url)
    # An unknown code is still a 404 in Spanish, as problem+json.
    bad = httpx.get(f"{server}/api/territorios/9999")
    assert bad.status_code == 404 and bad.headers["content-type"].startswith("application/problem+json")
    assert "9999" in bad.json()["detail"]
    # A surveyed district keeps its figures.
    assert httpx.get(f"{server}/api/territorios/{VILLETA}").json().get("sin_relevamiento") is None


def test_searching_a_district_without_survey_opens_its_profile_and_outlines_it(pagina, base_url):
    page = pagina.abrir("/")
    legend = page.inner_text("#leyenda")
    for name in ("Sin relevamiento FIPS", "Reservado", "Sin dato"):
        assert name in legend
    assert page.locator("#leyenda li.fila-sin-relevamiento .muestra-sin-relevamiento").count() == 1
    page.fill("#buscar", "capiata")
    page.wait_for_selector("#resultados li[data-i]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#perfil.perfil-sin-relevamiento .servicios-cercanos li")
    perfil = page.inner_text("#perfil")
    assert "Capiatá" in perfil and "Sin relevamiento FIPS" in perfil
    assert f"{es_py(_censo(base_url, CAPIATA), 0)} personas" in perfil
    assert "0 %" in perfil and "No se pudo" not in perfil and "No hay cifras publicadas" not in perfil
    assert parse_qs(urlparse(page.url).query)["t"] == [CAPIATA]
    # The map went to Capiatá and outlines it.
    page.wait_for_function("() => document.body.dataset.contorno === '1102'")
    page.wait_for_selector(".leaflet-resalte-pane path.contorno-territorio", state="attached")
    lon, lat = _punto_interior(base_url, CAPIATA)
    assert page.evaluate("([lat, lon]) => window.geoportal.mapa.getBounds().contains([lat, lon])", [lat, lon])
    # Its area is drawn as "sin relevamiento", and the layout holds: the profile's top is on screen.
    page.wait_for_function("() => window.geoportal.capaSinRelevamiento?.dibujados.has('1102')")
    assert page.locator("#perfil h2").bounding_box()["y"] >= 0
    _captura(pagina, "visor-sin-relevamiento-perfil")


def test_clicking_a_district_without_survey_opens_a_popup_with_what_is_known(pagina, base_url):
    lon, lat = _punto_interior(base_url, CAPIATA)
    page = pagina.abrir(f"/?capa=logros&medida=l1_pct&z=10&lat={lat}&lon={lon}")
    page.wait_for_function("() => window.geoportal.capaSinRelevamiento?.dibujados.has('1102')")
    page.wait_for_timeout(500)
    _plegar_leyenda(page)
    page.mouse.click(*pagina.centro_en_pixel(lon, lat))
    popup = page.locator(".leaflet-popup-content .popup-sin-relevamiento")
    popup.wait_for()
    text = popup.inner_text()
    assert "Capiatá" in text and "Sin relevamiento FIPS" in text and "0 %" in text
    assert es_py(_censo(base_url, CAPIATA), 0) in text
    page.wait_for_timeout(600)  # the popup's fade-in and the pan that brings it into view
    _captura(pagina, "visor-sin-relevamiento-popup")
    page.click(".popup-sin-relevamiento .abrir-perfil")
    page.wait_for_selector("#perfil.perfil-sin-relevamiento h2")
    _url_con_t(page, CAPIATA)


def test_the_survey_coverage_layer_shows_districts_without_survey_as_zero(pagina, base_url):
    lon, lat = _punto_interior(base_url, VILLETA)
    page = pagina.abrir(f"/?capa=relevamiento&z=8&lat={lat}&lon={lon}")
    page.wait_for_function("() => window.geoportal.capaSinRelevamiento?.dibujados.size > 0")
    page.wait_for_timeout(500)
    cero = rows(
        base_url,
        "SELECT colores[1] c FROM publico.leyenda WHERE capa = 'relevamiento' AND nivel = 'distrito'"
        " AND medida = 'relevamiento_pct'",
    )[0]["c"].lower()
    rgb = f"rgb({int(cero[1:3], 16)}, {int(cero[3:5], 16)}, {int(cero[5:7], 16)})"
    row = page.locator("#leyenda li.fila-sin-relevamiento")
    assert "(0 %)" in row.inner_text()
    assert row.locator(".muestra").evaluate("e => e.style.background") == rgb
    fills = page.eval_on_selector_all(
        ".leaflet-sinrelev-pane path.sin-relevamiento", "els => els.map(e => e.getAttribute('fill'))"
    )
    assert fills and {f.lower() for f in fills} == {cero}
    _captura(pagina, "visor-relevamiento-cero")


# ------------------------------------------------------------------ 5. say what is measured


def test_logro_options_name_their_population_and_the_map_has_a_title(pagina, base_url):
    page = pagina.abrir("/?capa=logros&medida=l1_pct")
    universos = {
        r["logro"]: r["etiqueta"]
        for r in rows(base_url, "SELECT logro, etiqueta FROM publico.medida WHERE columna ~ '^l[0-9]+_universo$'")
    }
    options = dict(page.eval_on_selector_all("#medida option", "os => os.map(o => [o.value, o.textContent])"))
    assert len(options) == 10 and len(set(options.values())) == 10
    for n, etiqueta in universos.items():
        population = etiqueta.split(": ", 1)[1].removesuffix(" identificados").removesuffix(" identificadas")
        assert options[f"l{n}_pct"].startswith(f"Logro {n} · {population[0].upper()}{population[1:]}"), options[
            f"l{n}_pct"
        ]
    titulo = page.inner_text("#titulo-mapa")
    assert "Logro 1 · Mujeres embarazadas" in titulo and "Paraguay" in titulo
    box = page.locator("#titulo-mapa").bounding_box()
    mapa = page.locator("#mapa").bounding_box()
    assert mapa["y"] <= box["y"] and box["y"] + box["height"] <= mapa["y"] + mapa["height"]
    _captura(pagina, "visor-titulo-logros")


def test_gaps_are_a_rate_per_100_by_default_and_counts_carry_units(pagina, base_url):
    lon, lat = _punto_interior(base_url, VILLETA)
    page = pagina.abrir(f"/?z=8&lat={lat}&lon={lon}")
    layers = page.eval_on_selector_all("#capa option", "os => os.map(o => o.value)")
    assert layers.index("brechas_tasa") < layers.index("brechas")
    page.select_option("#capa", "brechas_tasa")
    pagina.esperar_teselas()
    assert page.input_value("#medida") == "tasa__cpn_sin_oferta"
    legend = page.inner_text("#leyenda")
    assert "por cada 100 personas a las que aplica" in legend and "Tasa calculada en el visor" in legend
    assert "hasta 0" not in legend
    row = rows(
        base_url,
        "SELECT cpn_sin_oferta s, cpn_aplica a, reservado FROM publico.cobertura"
        " WHERE nivel = 'distrito' AND codigo = %s",
        (VILLETA,),
    )[0]
    assert not row["reservado"] and row["a"] > 0
    _plegar_leyenda(page)
    page.mouse.click(*pagina.centro_en_pixel(lon, lat))
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert f"{es_py(100 * row['s'] / row['a'])} por 100" in popup.inner_text()
    _captura(pagina, "visor-brechas-tasa")
    page.keyboard.press("Escape")
    # Counts: the unit in the legend, no "hasta 0" class (counts are multiples of 5).
    page.select_option("#capa", "brechas")
    pagina.esperar_teselas()
    legend = page.inner_text("#leyenda")
    assert "(personas)" in page.inner_text("#leyenda .leyenda-titulo")
    assert "hasta 0" not in legend
    classes = page.eval_on_selector_all("#leyenda li.clase", "ls => ls.map(l => l.textContent)")
    assert classes and all("personas" in c for c in classes if c != "todos los valores")
    # Measures constant everywhere (stored without classes at every level) are not offered.
    constant = {
        r["medida"]
        for r in rows(
            base_url,
            "SELECT medida FROM publico.leyenda WHERE capa = 'brechas' GROUP BY medida"
            " HAVING bool_and(cardinality(cortes) = 0)",
        )
    }
    offered = set(page.eval_on_selector_all("#medida option", "os => os.map(o => o.value)"))
    assert not (offered & (constant - {page.input_value("#medida")}))
    _captura(pagina, "visor-brechas-conteo")


# ------------------------------------------------------------------ 7. search and wording


def test_search_folds_enye_and_names_are_in_their_public_form(server, base_url):
    for q in ("nemby", "ÑEMBY", "Ñemby", "ñemby"):
        first = httpx.get(f"{server}/api/buscar", params={"q": q}).json()["resultados"][0]
        assert (first["nivel"], first["codigo"], first["nombre"]) == ("distrito", NEMBY, "Ñemby"), q
    names = [
        r["nombre"] for r in httpx.get(f"{server}/api/buscar", params={"q": "mcal estigarribia"}).json()["resultados"]
    ]
    assert "Mariscal José Félix Estigarribia" in names and not any("MCAL" in n for n in names)
    capiata = httpx.get(f"{server}/api/buscar", params={"q": "capiata"}).json()["resultados"][0]
    assert capiata["nombre"] == "Capiatá" and capiata["en"] == "Central"
    # No mojibake of the MEC export reaches a public point name.
    bad = rows(base_url, "SELECT nombre FROM publico.punto_entrega WHERE nombre ~ '[şŞŃńĐđÐð]'")
    assert bad == []


def test_typing_nemby_finds_enye_and_technical_ids_are_folded_away(pagina, base_url):
    page = pagina.abrir("/")
    page.fill("#buscar", "nemby")
    page.wait_for_selector("#resultados li[data-i]")
    assert page.inner_text("#resultados li[data-i='0'] b") == "Ñemby"
    _captura(pagina, "visor-busqueda-nemby")
    page.keyboard.press("Enter")
    page.wait_for_selector("#perfil h2")
    assert page.inner_text("#perfil h2") == "Ñemby"
    _url_con_t(page, NEMBY)
    # A surveyed district's profile (Villeta) with its gaps' cells.
    page.goto(pagina.base + f"/?t={VILLETA}")
    page.wait_for_selector("#perfil .brecha")
    version = rows(base_url, "SELECT data_version FROM publico.version WHERE vigente")[0]["data_version"]
    # The data version's hash and the H3 cell ids are in a closed "details" fold, not in the text read.
    visible = page.evaluate("() => document.body.innerText")
    assert version not in visible
    cells = [r["codigo"] for r in rows(base_url, "SELECT codigo FROM publico.cobertura WHERE nivel = 'h3_7'")]
    assert not any(c in visible for c in cells)
    assert "(nucleo)" not in visible and " a el " not in visible and "1 hexágonos" not in visible
    assert page.locator("#perfil .pie-ficha details summary").inner_text() == "Detalles técnicos"
    assert page.locator("footer details.version-datos #data-version").text_content() == version
    _captura(pagina, "visor-perfil-nemby")


# ------------------------------------------------------------------ 6. context on the map


def test_a_territory_link_moves_and_outlines_and_back_keeps_url_and_view_in_step(pagina, base_url):
    page = pagina.abrir(f"/?t={VILLETA}")
    page.wait_for_selector("#perfil .logro")
    page.wait_for_function("() => document.body.dataset.contorno === '1116'")
    page.wait_for_selector(".leaflet-resalte-pane path.contorno-territorio", state="attached")
    box = rows(
        base_url,
        "SELECT ST_XMin(e) w, ST_YMin(e) s, ST_XMax(e) e, ST_YMax(e) n FROM"
        " (SELECT ST_Extent(geom) e FROM territorio.distrito_cartografico WHERE codigo_2012 = %s) x",
        (VILLETA,),
    )[0]
    bounds = page.evaluate(
        "() => { const b = window.geoportal.mapa.getBounds(); return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }"
    )
    cx, cy = (box["w"] + box["e"]) / 2, (box["s"] + box["n"]) / 2
    assert bounds[0] < cx < bounds[2] and bounds[1] < cy < bounds[3]
    assert (bounds[2] - bounds[0]) < 5 * (box["e"] - box["w"]) + 0.5  # zoomed to the district, not the country
    assert "Villeta" in page.inner_text("#titulo-mapa")
    _captura(pagina, "visor-enlace-territorio")
    # Names on hover.
    lon, lat = _punto_interior(base_url, VILLETA)
    _plegar_leyenda(page)
    # At the hexagon level the hover names the hexagon's size, never its H3 id.
    page.mouse.move(*pagina.centro_en_pixel(lon, lat))
    page.mouse.move(*[v + 2 for v in pagina.centro_en_pixel(lon, lat)])
    page.wait_for_selector(".leaflet-tooltip.nombre-al-pasar")
    assert "Hexágono" in page.inner_text(".leaflet-tooltip.nombre-al-pasar")
    assert not any(
        c in page.inner_text(".leaflet-tooltip.nombre-al-pasar")
        for c in (r["codigo"] for r in rows(base_url, "SELECT codigo FROM publico.cobertura WHERE nivel LIKE 'h3%%'"))
    )
    page.evaluate("([lat, lon]) => window.geoportal.mapa.setView([lat, lon], 8, {animate: false})", [lat, lon])
    pagina.esperar_teselas()
    _plegar_leyenda(page)
    page.wait_for_function(
        "() => window.geoportal.tematica.dibujados.has('1116') && !window.geoportal.tematica.isLoading()"
    )
    page.wait_for_timeout(500)
    for step in (0, 2, 4):
        x, y = pagina.centro_en_pixel(lon, lat)
        page.mouse.move(x + step, y + step)
        page.wait_for_timeout(200)
        if "Villeta" in (page.locator(".leaflet-tooltip.nombre-al-pasar").text_content() or ""):
            break
    hovered = page.locator(".leaflet-tooltip.nombre-al-pasar").inner_text()
    if "Villeta" not in hovered:
        pagina.captura(f"visor-hover-fallo-{pagina.tamano}.png")
    assert "Villeta" in hovered
    # Search another territory (keyboard only), then Back restores URL, profile and view.
    page.focus("#buscar")
    page.keyboard.type("nemby")
    page.wait_for_selector("#resultados li[data-i]")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.body.dataset.contorno === '1112'")
    page.wait_for_selector("#perfil h2")
    _url_con_t(page, NEMBY)
    page.wait_for_function("() => document.getElementById('titulo-mapa').textContent.includes('Ñemby')")
    page.go_back()
    page.wait_for_function("() => document.body.dataset.contorno === '1116'")
    _url_con_t(page, VILLETA)
    assert "Villeta" in page.inner_text("#perfil h2")
    q = parse_qs(urlparse(page.url).query)
    center = page.evaluate("() => window.geoportal.mapa.getCenter()")
    # The same view within a few pixels (the URL keeps 4 decimals; a resize may shift a pixel or two).
    assert abs(center["lat"] - float(q["lat"][0])) < 5e-3 and abs(center["lng"] - float(q["lon"][0])) < 5e-3
    # "Copiar enlace" says it copied (or shows the link to copy by hand).
    page.click("#copiar-enlace")
    page.wait_for_function("() => document.getElementById('enlace-estado').textContent.length > 0")
    assert "nlace" in page.inner_text("#enlace-estado")


# ------------------------------------------------------------------ axe-core


@pytest.mark.parametrize("ruta", ["/", f"/?t={CAPIATA}", "/no-existe"])
def test_axe_finds_no_serious_or_critical_violation(pagina, ruta):
    assert AXE.is_file(), "Falta web/node_modules/axe-core: ejecute `bash scripts/setup.sh` (npm ci)."
    page = pagina.page
    page.goto(pagina.base + ruta)
    if ruta != "/no-existe":
        page.wait_for_selector("body[data-listo=si]", timeout=30_000)
        pagina.esperar_teselas()
    if "t=" in ruta:
        page.wait_for_selector("#perfil h2")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], bad
    nombre = {"/": "visor", f"/?t={CAPIATA}": "visor-sin-relevamiento", "/no-existe": "pagina-404"}[ruta]
    _captura(pagina, f"axe-{nombre}")
    if ruta == "/no-existe":
        pagina.errores = [e for e in pagina.errores if "404" not in e]  # the page's own status, not an error


def test_one_public_form_of_place_names():
    from geoportal.nombres import clave_busqueda, nombre_oficial, reparar_texto

    assert nombre_oficial("MCAL. ESTIGARRIBIA") == "Mariscal José Félix Estigarribia"
    assert nombre_oficial("TTE 1RO MANUEL IRALA FERNANDEZ") == "Teniente Primero Manuel Irala Fernández"
    assert nombre_oficial("Gral. Eugenio A. Garay") == "General Eugenio A. Garay"
    assert nombre_oficial("CAPIATA") == "Capiatá" and nombre_oficial("ÑEMBY") == "Ñemby"
    assert nombre_oficial("SAN JUAN BAUTISTA DEL ÑEEMBUCU") == "San Juan Bautista de Ñeembucú"
    assert nombre_oficial("ALTO PARANA") == "Alto Paraná"
    # The MEC export read with the Central-European code page: "Nş1", "NIŃO".
    assert reparar_texto("ESCUELA BASICA Nş 1 NIŃO JESUS") == "ESCUELA BASICA Nº 1 NIÑO JESUS"
    assert clave_busqueda("Ñemby") == clave_busqueda("nemby") == clave_busqueda("ÑEMBY")
