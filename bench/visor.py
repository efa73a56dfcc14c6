"""Time to first rendered map in headless Chromium, and the viewer's download size.

    .venv/bin/python bench/visor.py [--url POSTGRES_URL] [--veces 5]

Serves the API (real uvicorn, loopback) on the database given, or on ``geoportal_bench``
when it holds a publication (``bench/calculo.py`` leaves the national synthetic data
there), else on the portal's own database; prepares the map layers if needed. Each run is
a fresh browser profile (cold HTTP cache; the server's tile cache is warm after the first
run, so both are printed). The time is navigation start → the ``primer-mapa`` mark, set
by the viewer when the first tile with vector features has been drawn. Target < 1.5 s.
Time to profile: navigation to ``/?t=CODE`` → the ``perfil-abierto`` mark (the profile
drawn), for a surveyed district and for one without survey (issue 22: it opens a
profile now, not an error). Previous figures (issue 22): first map 0.8–1.5 s.
"""

from __future__ import annotations

import argparse
import gzip
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _gz(*paths: Path) -> int:
    return sum(len(gzip.compress(p.read_bytes(), compresslevel=9)) for p in paths)


def _database() -> str:
    from geoportal.db import database_url

    own = database_url()
    bench = make_url(own).set(database="geoportal_bench").render_as_string(hide_password=False)
    try:
        with psycopg.connect(bench, connect_timeout=5) as conn:
            if conn.execute("SELECT 1 FROM publico.version WHERE vigente").fetchone():
                return bench
    except psycopg.Error:
        pass
    return own


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="base de datos (por defecto geoportal_bench o la propia)")
    parser.add_argument("--veces", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from tiles.publicacion import preparar_publicacion

    url = args.url or _database()
    with psycopg.connect(url) as conn:
        scope = conn.execute("SELECT ambito, data_version FROM publico.version WHERE vigente").fetchone()
        districts = conn.execute("SELECT count(*) FROM publico.cobertura WHERE nivel = 'distrito'").fetchone()[0]
        surveyed = conn.execute(
            "SELECT min(codigo) FROM publico.cobertura WHERE nivel = 'distrito' AND NOT reservado"
            " AND codigo NOT LIKE 'D%'"
        ).fetchone()[0]
        unsurveyed = conn.execute(
            "SELECT min(codigo_2012) FROM territorio.distrito_cartografico c WHERE NOT EXISTS"
            " (SELECT 1 FROM publico.cobertura p WHERE p.nivel = 'distrito'"
            " AND p.codigo = c.codigo_2012)"
        ).fetchone()[0]
        prepared = conn.execute("SELECT data_version FROM publico.tesela_estado").fetchone()
        if not prepared or prepared[0] != scope[1]:
            print("==> Preparando las capas del mapa para esta versión")
            preparar_publicacion(conn)
    print(f"Base: {make_url(url).database}; versión {scope[1]} ({districts} distritos publicados)")

    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "GEOPORTAL_DATABASE_URL": url},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/salud", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        times = []
        perfil: dict[str, list[float]] = {"relevado": [], "sin relevamiento": []}
        with sync_playwright() as p:
            for _ in range(args.veces):
                with tempfile.TemporaryDirectory() as profile:
                    context = p.chromium.launch_persistent_context(
                        profile,
                        executable_path="/usr/bin/chromium",
                        args=CHROMIUM_ARGS,
                        headless=True,
                        viewport={"width": 1366, "height": 860},
                    )
                    page = context.new_page()
                    page.goto(base + "/")
                    page.wait_for_function(
                        "() => performance.getEntriesByName('primer-mapa').length > 0", timeout=60_000
                    )
                    times.append(page.evaluate("() => performance.getEntriesByName('primer-mapa')[0].startTime") / 1000)
                    for clase, codigo in (("relevado", surveyed), ("sin relevamiento", unsurveyed)):
                        if codigo is None:
                            continue
                        page.goto(f"{base}/?t={codigo}")
                        page.wait_for_function(
                            "() => performance.getEntriesByName('perfil-abierto').length > 0", timeout=60_000
                        )
                        perfil[clase].append(
                            page.evaluate("() => performance.getEntriesByName('perfil-abierto')[0].startTime") / 1000
                        )
                    context.close()
    finally:
        server.terminate()
        server.wait(timeout=10)

    dist = ROOT / "web" / "dist"
    leaflet = ROOT / "web" / "node_modules" / "leaflet" / "dist"
    own = _gz(dist / "app.js", dist / "estilo.css")
    ref = _gz(leaflet / "leaflet.js", leaflet / "leaflet.css")
    print(f"Primer mapa dibujado (inicio de la navegación → primeras teselas con objetos), {args.veces} corridas:")
    print(f"  primera (caché de teselas del servidor fría): {times[0]:.2f} s")
    if len(times) > 1:
        print(
            f"  siguientes (servidor caliente, navegador frío): mediana {statistics.median(times[1:]):.2f} s,"
            f" máx. {max(times[1:]):.2f} s   (meta < 1,5 s)"
        )
    for clase, codigo in (("relevado", surveyed), ("sin relevamiento", unsurveyed)):
        if perfil[clase]:
            print(
                f"Perfil abierto desde /?t={codigo} ({clase}): mediana {statistics.median(perfil[clase]):.2f} s,"
                f" máx. {max(perfil[clase]):.2f} s   (antes, sin relevamiento: error técnico, sin perfil)"
            )
    print("Antes (issue 22): primer mapa 0,8–1,5 s.")
    print(
        f"Tamaño descargado del visor (JS + CSS, gzip): {own / 1024:.1f} KB;"
        f" Leaflet solo (leaflet.js + leaflet.css): {ref / 1024:.1f} KB"
    )


if __name__ == "__main__":
    main()
