"""A real HTTP server (uvicorn on loopback) and a real browser (Debian's Chromium)."""

from __future__ import annotations

import os
import tempfile

import httpx
import pytest

from tests.rutas import CHROMIUM, CHROMIUM_ARGS
from tests.servidor_local import serve


@pytest.fixture(scope="module")
def server(pilotos):
    """uvicorn serving the API against the computed pilot database."""
    yield from serve(pilotos["url"])


def test_health_reports_the_current_data_version(server, pilotos):
    import psycopg

    with psycopg.connect(pilotos["url"]) as conn:
        version, households = conn.execute(
            "SELECT v.data_version, c.hogares FROM publico.version v, publico.cobertura c"
            " WHERE v.vigente AND c.nivel = 'pais'"
        ).fetchone()
    body = httpx.get(f"{server}/salud").json()
    assert body["estado"] == "ok"
    assert body["datos"]["data_version"] == version
    assert body["datos"]["hogares"] == households and households % 5 == 0


def test_home_page_in_a_real_browser_says_data_are_synthetic(server):
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Falta /usr/bin/chromium: `make test` lo instala (paquete chromium de Debian).")
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page()
        page.goto(server + "/")
        assert page.title() == "Geoportal SPS «Vamos!»"
        assert "datos sintéticos" in page.inner_text("body")
        assert len(page.text_content("#data-version")) == 16
        browser.close()
