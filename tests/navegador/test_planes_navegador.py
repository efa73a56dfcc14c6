"""A Mesa in a real browser: creates a plan, runs the planner, adds two proposed sites to the
plan, sees the expected effect, and prints the plan sheet (one page for its district)."""

from __future__ import annotations

import os
import re
import tempfile

import psycopg
import pytest

from tests.institucional import CLAVE, Server, clone_database, make_users
from tests.rutas import ARTEFACTOS

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def servidor(pilotos):
    url = clone_database(pilotos["url"], "planes_nav")
    make_users(url)
    server = Server(url)
    yield {"base": server.base, "url": url}
    server.stop()


def test_mesa_plans_two_sites_sees_the_effect_and_prints_the_sheet(servidor):
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Falta /usr/bin/chromium: `make test` lo instala (paquete chromium de Debian).")
    base = servidor["base"]
    ARTEFACTOS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as perfil, sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            perfil,
            executable_path=CHROMIUM,
            args=ARGS,
            headless=True,
            locale="es-PY",
            viewport={"width": 1280, "height": 900},
        )
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
        ctx.close()
    with psycopg.connect(servidor["url"]) as conn:
        tipos = conn.execute(
            "SELECT tipo, punto_tipo, institucion FROM planes.accion WHERE plan_id = %s ORDER BY accion_id", (plan_id,)
        ).fetchall()
    assert tipos == [("punto_nuevo", "usf", "MSPBS")] * 2
