"""A Mesa in a real browser: creates a plan, runs the planner, adds two proposed sites to the
plan, sees the expected effect, and prints the plan sheet (one page for its district)."""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager

import psycopg
import pytest

from tests.institucional import CLAVE, Server, clone_database, make_users
from tests.rutas import ARTEFACTOS, CHROMIUM, CHROMIUM_ARGS, RAIZ


@contextmanager
def _navegador():
    """Chromium with a fresh profile, Spanish (Paraguay), desktop size; closed at the end."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as perfil, sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            perfil,
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            locale="es-PY",
            viewport={"width": 1280, "height": 900},
        )
        yield ctx
        ctx.close()


@pytest.fixture(scope="module")
def servidor(pilotos):
    url = clone_database(pilotos["url"], "planes_nav")
    make_users(url)
    server = Server(url)
    yield {"base": server.base, "url": url}
    server.stop()


def test_mesa_plans_two_sites_sees_the_effect_and_prints_the_sheet(servidor):
    if not os.path.exists(CHROMIUM):
        pytest.fail("Falta /usr/bin/chromium: `make test` lo instala (paquete chromium de Debian).")
    base = servidor["base"]
    ARTEFACTOS.mkdir(parents=True, exist_ok=True)
    with _navegador() as ctx:
        page = ctx.new_page()
        page.goto(base + "/planes")
        page.fill("input[name=usuario]", "mesa1116")
        page.fill("input[name=clave]", CLAVE)
        page.click("button[type=submit]")
        page.wait_for_url("**/planes")
        # a plan for Villeta
        page.fill("#form-plan input[name=titulo]", "Plan de salud 2027")
        page.fill("#form-plan input[name=periodo_desde]", "2027-01-01")
        page.fill("#form-plan input[name=periodo_hasta]", "2027-12-31")
        page.click("#form-plan button[type=submit]")
        page.wait_for_url(re.compile(r".*/planes/\d+$"))
        plan_id = int(page.url.rstrip("/").split("/")[-1])
        # the planner, for this plan: two sites, each added
        for n in range(2):
            page.goto(f"{base}/planes?distrito=1116&k=2&plan_id={plan_id}")
            page.wait_for_selector("#sitios")
            assert "Óptimo" in page.inner_text("#resumen-planificador")
            if n == 0:
                page.screenshot(path=str(ARTEFACTOS / "planes_planificador.png"), full_page=True)
            filas = page.locator("#sitios tr", has=page.locator("form.agregar-sitio"))
            assert filas.count() == 2
            filas.nth(n).locator("button[type=submit]").click()
            page.wait_for_url(re.compile(rf".*/planes/{plan_id}\?.*"))
            assert "Sitio agregado" in page.inner_text("#mensaje")
        acciones = page.locator("#acciones tr").count() - 1
        assert acciones == 2
        assert "2 punto(s) nuevo(s)" in page.inner_text("#efecto")
        texto = page.inner_text("#servicios")
        assert "Adscripción" in texto or "USF" in texto
        logros = page.locator("#logros tr")
        assert logros.count() == 11  # header + 10 Logros
        assert page.locator("#logros svg.serie").count() == 10
        page.screenshot(path=str(ARTEFACTOS / "planes_efecto.png"), full_page=True)
        # the printable sheet: print media, one page for the district
        page.click("#hoja")
        page.wait_for_selector("section.hoja")
        page.emulate_media(media="print")
        page.screenshot(path=str(ARTEFACTOS / "planes_hoja_impresa.png"), full_page=True)
        assert not page.locator(".no-imprimir").is_visible()
        pdf = page.pdf(format="A4", landscape=True, prefer_css_page_size=True)
        (ARTEFACTOS / "planes_hoja.pdf").write_bytes(pdf)
        paginas = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
        assert paginas == 1, paginas
    with psycopg.connect(servidor["url"]) as conn:
        tipos = conn.execute(
            "SELECT tipo, punto_tipo, institucion FROM planes.accion WHERE plan_id = %s ORDER BY accion_id", (plan_id,)
        ).fetchall()
    assert tipos == [("punto_nuevo", "usf", "MSPBS")] * 2


def _simulado(url: str, puntos: list[tuple[float, float, int]]) -> dict[str, int]:
    """Independent: the what-if engine's own table, protected service by service (non-entorno)."""
    from geoportal.planes import proteger
    from geoportal.whatif import PuntoNuevo, simulate

    with psycopg.connect(url) as conn:
        tabla = simulate(conn, "1116", [PuntoNuevo("usf", lon, lat, cap) for lon, lat, cap in puntos])
    tabla = tabla[tabla["unidad"] != "entorno"]
    pasan = {
        r["nombre"]: proteger(int(r["brecha_sin_oferta_antes"] - r["brecha_sin_oferta_despues"]))
        for _, r in tabla.iterrows()
    }
    return {k: v for k, v in pasan.items() if v}


def _tabla(page, selector: str) -> dict[str, int]:
    filas = page.eval_on_selector_all(
        f"{selector} tr", "rs => rs.map(r => [...r.querySelectorAll('td')].map(c => c.textContent))"
    )
    return {f[0]: int(f[1].replace(".", "")) for f in filas if len(f) == 2}


def test_viewer_panel_mesa_plans_two_sites_tries_a_point_and_opens_the_sheet(servidor):
    """The viewer's planning panel: the planner's sites and their cells on the map, a point
    clicked on the map and its effect, two sites added to a new plan, the plan's effect (each
    figure against the what-if engine run here), the printable sheet; desktop and phone."""
    base = servidor["base"]
    ARTEFACTOS.mkdir(parents=True, exist_ok=True)
    with _navegador() as ctx:
        page = ctx.new_page()
        page.goto(base + "/ingresar?siguiente=/")
        page.fill("input[name=usuario]", "mesa1116")
        page.fill("input[name=clave]", CLAVE)
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-planificacion=si]", timeout=60_000)
        assert page.input_value("#plan-distrito") == "1116"
        assert page.locator("#plan-distrito option").count() == 1  # a district's Mesa: its own district only
        assert page.input_value("#plan-tipo") == "usf"
        page.fill("#plan-capacidad", "250")
        page.fill("#plan-k", "2")
        page.click("#plan-calcular")
        page.wait_for_selector("body[data-plan-sitios='2']", timeout=120_000)
        propuesta = page.evaluate("window.geoportal.planificacion.propuesta")
        assert "Óptimo" in page.inner_text("#plan-resumen")
        assert page.locator("#plan-sitios li").count() == 2
        assert page.locator("path.sitio-plan").count() == 2
        celdas = sum(len(s["celdas_al_alcance"]) for s in propuesta["sitios"])
        assert celdas > 0 and page.locator("path.celda-plan").count() == celdas
        # a candidate point clicked on the map, near the first site, and its effect
        s1, s2 = propuesta["sitios"]
        page.click("#plan-candidato")
        caja = page.locator("#mapa").bounding_box()
        px = page.evaluate(f"window.geoportal.planificacion.aPixel({s1['lat'] + 0.004}, {s1['lon'] + 0.004})")
        page.mouse.click(caja["x"] + px["x"], caja["y"] + px["y"])
        page.wait_for_selector("#plan-candidato-efecto h3", timeout=120_000)
        cand = page.evaluate("window.geoportal.planificacion.candidato")
        assert abs(cand["lat"] - (s1["lat"] + 0.004)) < 0.001 and abs(cand["lon"] - (s1["lon"] + 0.004)) < 0.001
        assert page.locator(".leaflet-popup").count() == 0  # the click chose the point, no area popup
        esperado = _simulado(servidor["url"], [(cand["lon"], cand["lat"], 250)])
        assert _tabla(page, "#plan-candidato-efecto .servicios-efecto") == esperado
        page.screenshot(path=str(ARTEFACTOS / "planes_visor_candidato.png"))
        # two proposed sites into a new plan
        page.select_option("#plan-elegido", "nuevo")
        page.fill("#plan-titulo", "Plan del visor")
        page.locator("#plan-sitios button.agregar-sitio").nth(0).click()
        page.wait_for_selector("body[data-plan-efecto]", timeout=120_000)
        plan_id = int(page.get_attribute("body", "data-plan-efecto"))
        assert page.input_value("#plan-elegido") == str(plan_id)
        page.locator("#plan-sitios button.agregar-sitio").nth(1).click()
        page.wait_for_function("document.querySelector('#plan-efecto')?.innerText.includes('2 punto(s) nuevo(s)')")
        with psycopg.connect(servidor["url"]) as conn:
            guardados = conn.execute(
                "SELECT lon, lat, capacidad FROM planes.accion WHERE plan_id = %s ORDER BY accion_id", (plan_id,)
            ).fetchall()
            titulo = conn.execute("SELECT titulo FROM planes.plan WHERE plan_id = %s", (plan_id,)).fetchone()[0]
        assert titulo == "Plan del visor" and {c for _, _, c in guardados} == {250}
        assert [(round(lon, 6), round(lat, 6)) for lon, lat, _ in guardados] == [
            (s1["lon"], s1["lat"]),
            (s2["lon"], s2["lat"]),
        ]
        assert _tabla(page, "#plan-efecto .servicios-efecto") == _simulado(servidor["url"], guardados)
        assert page.locator("#plan-efecto .logros-efecto tr").count() == 11  # header + 10 Logros
        page.locator("#plan-efecto").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTEFACTOS / "planes_visor_escritorio.png"))
        # the printable sheet, from the panel
        with ctx.expect_page() as nueva:
            page.click("#plan-hoja")
        hoja = nueva.value
        hoja.wait_for_selector("section.hoja")
        assert "Plan del visor" in hoja.inner_text("section.hoja")
        hoja.emulate_media(media="print")
        hoja.screenshot(path=str(ARTEFACTOS / "planes_visor_hoja.png"), full_page=True)
        hoja.close()
        # on a phone: the panel, the effect readable
        page.set_viewport_size({"width": 390, "height": 844})
        page.locator("#plan-efecto").scroll_into_view_if_needed()
        assert page.locator("#plan-efecto table").first.bounding_box()["width"] <= 390
        page.screenshot(path=str(ARTEFACTOS / "planes_visor_telefono.png"))
        # the public profile: each Logro's course over the releases, against its meta
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(base + "/?t=1116")
        page.wait_for_selector("#perfil section.evolucion svg.serie", timeout=60_000)
        assert page.locator("#perfil section.evolucion svg.serie").count() == 10
        page.locator("#perfil section.evolucion").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTEFACTOS / "perfil_evolucion.png"))
        # axe-core over the viewer with the planning panel and the profile open
        page.wait_for_selector("body[data-planificacion=si]", timeout=60_000)
        page.add_script_tag(path=str(RAIZ / "web/node_modules/axe-core/axe.min.js"))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        bad = [
            (v["id"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert bad == [], bad
