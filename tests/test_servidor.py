"""A real HTTP server (uvicorn on loopback) and a real browser (Debian's Chromium)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(pilotos):
    """uvicorn serving the API against the computed pilot database."""
    port = _free_port()
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": pilotos["url"]}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/salud", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError(process.stdout.read().decode())
    yield base
    process.terminate()
    process.wait(timeout=10)


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
        browser = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page()
        page.goto(server + "/")
        assert page.title() == "Geoportal SPS «Vamos!»"
        assert "datos sintéticos" in page.inner_text("body")
        assert len(page.inner_text("#data-version")) == 16
        browser.close()
