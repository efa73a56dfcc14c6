"""The viewer's "Distancia / tiempo a servicios" group (web/src/superficies.js) in Chromium:
the raster tiles load from /raster/<data_version>/..., the legend is in km or minutes with
the classes of capas/superficies.yaml, the opacity slider acts on the layer, and the value
under the cursor is the one the point endpoint gives. Everything from 127.0.0.1."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import psycopg
import pytest

from capas.raster import default_rasters
from geoportal import superficies as s
from tests.institucional import clone_database
from tests.navegador.test_visor import DIST, Pagina, chromium  # noqa: F401 -- the browser fixture
from tests.servidor_local import serve

ASUNCION = (-57.45, -25.36)


@pytest.fixture(scope="module")
def server(pilotos):
    from tiles.publicacion import preparar_publicacion

    url = clone_database(pilotos["url"], "superficies_visor")
    with psycopg.connect(url) as conn:
        preparar_publicacion(conn)
        s.tras_publicar(conn, Path(os.environ["GEOPORTAL_HOME"]), ["usf"], tipo="usf")
    if not DIST.is_file():
        pytest.fail("Falta web/dist: ejecute `bash scripts/setup.sh`.")
    yield from serve(url)


@pytest.fixture
def pagina(chromium, server):
    pagina = Pagina(chromium, server)
    yield pagina
    pagina.page.close()
    assert pagina.errores == [], pagina.errores
    assert [u for u in pagina.pedidos if not u.startswith(("http://127.0.0.1:", "data:"))] == []


def test_surface_layer_legend_opacity_and_value_under_the_cursor(pagina, server):
    page = pagina.abrir("/?z=9&lat=-25.4&lon=-57.4")
    page.select_option("#superficie-tipo", "usf")
    page.select_option("#superficie-medida", "distancia")
    page.wait_for_selector("#superficies[data-superficie=usf_distancia]", timeout=60_000)
    version = httpx.get(f"{server}/raster/superficies").json()["data_version"]
    raster = [u for u in pagina.pedidos if f"/raster/{version}/usf_distancia/tiles/WebMercatorQuad/" in u]
    assert raster and not [f for f in pagina.fallidos if "/raster/" in f]
    leyenda = page.inner_text("#superficie-leyenda")
    capa = default_rasters()["distancia"]
    assert "km" in leyenda and leyenda.count("\n") >= len(capa.cortes)
    assert "más de 40 km" in leyenda
    colores = page.eval_on_selector_all(
        "#superficie-leyenda .muestra", "els => els.map(e => getComputedStyle(e).backgroundColor)"
    )
    assert len(colores) == len(capa.colores)

    page.fill("#superficie-opacidad", "40")
    page.dispatch_event("#superficie-opacidad", "input")
    assert page.evaluate("() => window.geoportal.superficie.tiles.options.opacity") == pytest.approx(0.4)
    assert page.inner_text("#superficie-opacidad-valor") == "40 %"

    x, y = pagina.centro_en_pixel(*ASUNCION)
    page.mouse.move(x, y)
    page.wait_for_function(
        "() => document.querySelector('#superficie-valor').textContent.startsWith('Bajo el cursor')", timeout=30_000
    )
    lon, lat = page.evaluate(
        "([x, y]) => { const m = window.geoportal.mapa; const r = m.getContainer().getBoundingClientRect();"
        " const ll = m.containerPointToLatLng([x - r.left, y - r.top]); return [ll.lng, ll.lat]; }",
        [x, y],
    )
    esperado = httpx.get(
        f"{server}/raster/{version}/usf_distancia/punto", params={"lon": round(lon, 5), "lat": round(lat, 5)}
    ).json()["valor"]
    texto = page.inner_text("#superficie-valor")
    assert texto == f"Bajo el cursor: {f'{round(esperado, 1):.1f}'.replace('.', ',').removesuffix(',0')} km", texto
    assert page.get_attribute("#superficie-descarga", "href") == "/descargas/superficies/usf_distancia.tif"
    pagina.captura("superficie_usf_distancia.png")

    page.select_option("#superficie-medida", "tiempo")
    page.wait_for_selector("#superficies[data-superficie=usf_tiempo]", timeout=60_000)
    assert "min" in page.inner_text("#superficie-leyenda")
    assert "PY08" in page.inner_text("#superficie-limites")
    pagina.captura("superficie_usf_tiempo.png")


@pytest.mark.parametrize("ancho,alto", [(1366, 768), (390, 844)], ids=["escritorio", "movil"])
def test_profile_shows_persons_far_from_each_service_as_the_api_publishes_them(pagina, server, ancho, alto):
    """The profile's "Personas lejos de cada servicio" table carries, for every point type and
    distance, the protected count the profile API gives (the same store as tiles and
    downloads), and on a phone it scrolls inside its own box instead of widening the page."""
    perfil = httpx.get(f"{server}/api/territorios/1116").json()
    esperado = {(t["tipo_nombre"], u["km"]): u["personas"] for t in perfil["lejania"] for u in t["umbrales"]}
    assert esperado and all(v is None or v % 5 == 0 for v in esperado.values())
    page = pagina.page
    page.set_viewport_size({"width": ancho, "height": alto})
    pagina.abrir("/?t=1116")
    page.wait_for_selector("#perfil .lejania-tabla tbody tr", timeout=60_000)
    filas = page.eval_on_selector_all(
        "#perfil .lejania-tabla tbody tr",
        "trs => trs.map(tr => [tr.querySelector('th').textContent, [...tr.querySelectorAll('td')].map(td => td.textContent)])",
    )
    kms = sorted({km for _, km in esperado})
    visto = {}
    for nombre, celdas in filas:
        for km, texto in zip(kms, celdas, strict=True):
            visto[(nombre, km)] = None if texto == "reservado" else int(texto.split(" ")[0].replace(".", ""))
    assert visto == esperado
    page.locator("#perfil .lejania").scroll_into_view_if_needed()
    ancho_pagina = page.evaluate("() => document.documentElement.scrollWidth")
    assert ancho_pagina <= ancho + 1
    pagina.captura(f"superficies-perfil-lejania-{'escritorio' if ancho > 500 else 'movil'}.png")
