"""Benchmark: our vector tiles against tipg serving the same ``publico`` table.

    .venv/bin/pip install -e '.[bench]'; apt-get install wrk
    .venv/bin/python bench/teselas.py [--ambito pilotos|pais] [--recargar] [--segundos 5]

Loads (once; ``--recargar`` redoes it) the territory, the delivery points and synthetic
FIPS of ``--ambito`` into the benchmark database (bench/comun.py), computes and prepares
the publication, then starts two uvicorn servers on loopback, one process each: ours
(``api.app:create_app``) and tipg (``tipg.main:app``) with the public role on the same
database. Both serve the layer ``logros`` (10 Logro coverage measures, code, name,
``reservado``) from ``publico.cobertura`` at the level its definition assigns to each
zoom (tipg through its property filter ``?nivel=``), for a fixed list of tiles over
Paraguay at zooms 5–14 (tiles holding published H3 cells, evenly spaced).

* cold: each tile requested once right after the server starts (our tile cache empty;
  tipg has none), at concurrency 1 and 16 (Python client, per-request latency);
* warm: the list in a loop for ``--segundos`` seconds with wrk (C client), at
  concurrency 1 and 16.

Prints tiles/s, p50, p95, mean gzip bytes and the ratio to tipg. Targets (issue 13):
warm ≥ 2× tipg and ≥ 5 000 tiles/s; cold p95 < 50 ms for the H3 and district levels.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import numpy as np
import psycopg
from sqlalchemy.engine import make_url

from bench.comun import OUT, bench_url, cpu_count
from capas import default_capas
from geoportal.db import public_password
from tiles.publicacion import preparar_publicacion

CAPA = "logros"
ZOOMS = range(5, 15)
WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("GET", paths[i], {["Accept-Encoding"] = "gzip"})
end
done = function(summary, latency, requests)
  io.write(string.format("RESULTADO %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), summary.bytes, summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.timeout))
end
"""


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def load(url: str, ambito: str, semilla: int = 1) -> None:
    import pandas as pd

    from geoportal.ingest import ingest_file
    from geoportal.pipeline import compute_all
    from geoportal.puntos import write_points
    from geoportal.synthetic import generate
    from geoportal.territory import load_territory

    folder = OUT / f"teselas-{ambito}"
    folder.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        load_territory(conn)
        write_points(folder / "puntos.csv", semilla=semilla)
        ingest_file(folder / "puntos.csv", "puntos", conn)
        points = pd.read_csv(folder / "puntos.csv", dtype={"codigo_distrito": str})
        generate(ambito, semilla, folder, puntos=points)
        ingest_file(folder / "hogares.csv", "hogares", conn)
        ingest_file(folder / "personas.csv", "personas", conn)
        print(f"  carga ({ambito})                              {time.perf_counter() - start:8.1f} s", flush=True)
        start = time.perf_counter()
        compute_all(conn)
        print(f"  cálculo y publicación                         {time.perf_counter() - start:8.1f} s", flush=True)


def tile_list(url: str, per_zoom: int) -> list[tuple[int, int, int]]:
    """Tiles holding published H3 res-8 cells, evenly spaced, ``per_zoom`` per zoom at most."""
    with psycopg.connect(url) as conn:
        points = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p"
            " FROM publico.cobertura WHERE nivel = 'h3_8' ORDER BY codigo) s"
        ).fetchall()
    tiles = []
    for z in ZOOMS:
        distinct = sorted({tile_of(lon, lat, z) for lon, lat in points})
        pick = np.unique(np.linspace(0, len(distinct) - 1, min(per_zoom, len(distinct))).round().astype(int))
        tiles += [(z, *distinct[i]) for i in pick]
    return tiles


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process on a free loopback port: ``uvicorn <app>`` or, with ``command``, the
    portal's own ``geoportal servir`` (what ``make demo`` runs), port appended."""

    def __init__(self, name: str, app: list[str], env: dict, probe: str, command: list[str] | None = None):
        self.name, self.app, self.env, self.probe, self.command = name, app, env, probe, command
        self.process = None

    def start(self) -> str:
        port = free_port()
        argv = (
            [*self.command, "--port", str(port)]
            if self.command
            else [
                sys.executable,
                "-m",
                "uvicorn",
                *self.app,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
            ]
        )
        # The demo's access log (if on) goes to a file, as a terminal or journald would take it.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 -- open while the server runs; closed in stop()
        self.process = subprocess.Popen(argv, env={**os.environ, **self.env}, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + self.probe, timeout=2).status_code == 200:
                    return self.base
            except httpx.HTTPError:
                time.sleep(0.3)
        self.stop()
        self.log.seek(0)
        raise RuntimeError(f"{self.name} no arrancó:\n" + self.log.read().decode()[-3000:])

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None


def cold(base: str, paths: list[str], concurrency: int) -> dict:
    latencies, sizes = [], []

    def one(client: httpx.Client, path: str):
        start = time.perf_counter()
        r = client.get(base + path, headers={"Accept-Encoding": "gzip"})
        elapsed = time.perf_counter() - start
        if r.status_code not in (200, 204):
            raise RuntimeError(f"{path}: {r.status_code} {r.text[:200]}")
        return elapsed, r.num_bytes_downloaded

    start = time.perf_counter()
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:
        if concurrency == 1:
            results = [one(client, p) for p in paths]
        else:
            with ThreadPoolExecutor(concurrency) as pool:
                results = list(pool.map(lambda p: one(client, p), paths))
    total = time.perf_counter() - start
    latencies = np.array([r[0] for r in results]) * 1000
    sizes = np.array([r[1] for r in results])
    return {
        "tiles_s": len(paths) / total,
        "p50": np.percentile(latencies, 50),
        "p95": np.percentile(latencies, 95),
        "bytes": sizes[sizes > 0].mean() if (sizes > 0).any() else 0,
        "lat": latencies,
    }


def warm(base: str, paths: list[str], concurrency: int, seconds: int) -> dict:
    if shutil.which("wrk") is None:
        sys.exit("Falta wrk (apt-get install wrk): el cliente en C que mide el régimen caliente.")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % ", ".join(f'"{p}"' for p in paths))
    threads = 1 if concurrency == 1 else 2
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds}s", "-s", script.name, base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    line = next(x for x in out.splitlines() if x.startswith("RESULTADO"))
    requests, duration_us, p50_us, p95_us, nbytes, errors = map(int, line.split()[1:])
    return {
        "tiles_s": requests / (duration_us / 1e6),
        "p50": p50_us / 1000,
        "p95": p95_us / 1000,
        "bytes": nbytes / max(requests, 1),
        "errores": errors,
    }


def show(label: str, ours: dict, peer: dict) -> None:
    ratio = ours["tiles_s"] / peer["tiles_s"]
    print(
        f"  {label:<22} propio {ours['tiles_s']:8.0f} teselas/s  p50 {ours['p50']:6.1f} ms  p95 {ours['p95']:6.1f} ms"
        f"  {ours['bytes']:7.0f} B | tipg {peer['tiles_s']:7.0f} teselas/s  p50 {peer['p50']:6.1f} ms"
        f"  p95 {peer['p95']:6.1f} ms  {peer['bytes']:7.0f} B | razón {ratio:5.1f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ambito", default="pilotos")
    parser.add_argument("--recargar", action="store_true")
    parser.add_argument("--por-zoom", type=int, default=30)
    parser.add_argument("--segundos", type=int, default=5)
    parser.add_argument(
        "--demo",
        action="store_true",
        help="Solo el régimen caliente del servidor de `geoportal servir` (lo que sirve `make demo`).",
    )
    args = parser.parse_args()

    url = bench_url(fresh=args.recargar)
    with psycopg.connect(url) as conn:
        published = conn.execute("SELECT to_regclass('publico.cobertura') IS NOT NULL").fetchone()[0]
    print(f"Benchmark de teselas ({args.ambito}, {cpu_count()} núcleos)", flush=True)
    if args.recargar or not published:
        load(url, args.ambito)
    with psycopg.connect(url) as conn:
        prep = preparar_publicacion(conn)
        areas = conn.execute("SELECT nivel, count(*) FROM publico.cobertura GROUP BY 1 ORDER BY 1").fetchall()
    print(
        f"  preparación post-publicación: {prep['segundos']:.2f} s ({prep['geometrias']} geometrías, "
        f"{prep['leyendas']} leyendas)"
    )
    print("  áreas publicadas: " + ", ".join(f"{n} {c}" for n, c in areas))

    capa = default_capas()[CAPA]
    with psycopg.connect(url) as conn:
        measures = [
            r[0]
            for r in conn.execute(
                "SELECT columna FROM publico.medida WHERE columna ~ '^l[0-9]+_pct$' ORDER BY logro"
            ).fetchall()
        ]
    tiles = tile_list(url, args.por_zoom)
    print(f"  teselas: {len(tiles)} (zoom {ZOOMS.start}–{ZOOMS.stop - 1})")
    ours_paths = [f"/tiles/{CAPA}/{z}/{x}/{y}.mvt" for z, x, y in tiles]
    props = ",".join(["codigo", "nombre", "reservado", *measures])
    tipg_paths = [
        f"/collections/publico.cobertura/tiles/WebMercatorQuad/{z}/{x}/{y}?nivel={capa.nivel_en(z)}&properties={props}"
        for z, x, y in tiles
    ]

    public_url = make_url(url).set(username="geoportal_publico", password=public_password())
    ours = Server("propio", ["api.app:create_app", "--factory"], {"GEOPORTAL_DATABASE_URL": url}, "/salud")
    tipg = Server(
        "tipg",
        ["tipg.main:app"],
        {
            "DATABASE_URL": public_url.render_as_string(hide_password=False),
            "TIPG_DB_SCHEMAS": '["publico"]',
            "TIPG_MAX_FEATURES_PER_TILE": "100000",
        },
        "/collections",
    )
    if args.demo:
        demo(url, ours_paths, args.segundos)
        return
    results = {}
    try:
        for server, paths in ((ours, ours_paths), (tipg, tipg_paths)):
            for c in (1, 16):
                base = server.start()  # a fresh process: our cache is empty ("first request after publication")
                # A server that has been up for a while: connections open, layer state loaded.
                httpx.get(base + ("/capas" if server is ours else "/collections"), timeout=60)
                time.sleep(1)
                results[(server.name, "frío", c)] = cold(base, paths, c)
                results[(server.name, "caliente", c)] = warm(base, paths, c, args.segundos)
                server.stop()
    finally:
        ours.stop()
        tipg.stop()

    print("  — resultados (gzip; wrk para el régimen caliente) —")
    for regime in ("frío", "caliente"):
        for c in (1, 16):
            show(f"{regime}, concurrencia {c}", results[("propio", regime, c)], results[("tipg", regime, c)])
    by_level: dict[str, list[float]] = {}
    for (z, _, _), latency in zip(tiles, results[("propio", "frío", 1)]["lat"]):
        by_level.setdefault("h3" if capa.nivel_en(z).startswith("h3") else capa.nivel_en(z), []).append(latency)
    print(
        "  frío, concurrencia 1, p95 por nivel: "
        + ", ".join(f"{k} {np.percentile(v, 95):.1f} ms ({len(v)} teselas)" for k, v in by_level.items())
    )
    best = max(results[("propio", "caliente", c)]["tiles_s"] for c in (1, 16))
    peer = max(results[("tipg", "caliente", c)]["tiles_s"] for c in (1, 16))
    print(
        f"  metas: caliente ≥ 2× tipg ({best / peer:.1f}x) y ≥ 5.000 teselas/s ({best:,.0f}); ".replace(",", ".")
        + "frío p95 < 50 ms en distritos y H3 (arriba)"
    )


def demo(url: str, paths: list[str], seconds: int, rounds: int = 2) -> None:
    """Warm tiles/s of the server `make demo` starts (`geoportal servir`, its defaults) against
    what it ran before issue 21 (uvicorn's defaults without the [standard] extra: asyncio
    loop, h11 parser, a line per request on the access log), alternated ``rounds`` times on
    this shared machine; the best round of each is kept."""
    cli = str(Path(sys.executable).with_name("geoportal"))
    servers = {
        "antes (asyncio, h11, registro)": Server(
            "antes",
            [],
            {"GEOPORTAL_DATABASE_URL": url},
            "/salud",
            command=[
                sys.executable,
                "-m",
                "uvicorn",
                "api.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--loop",
                "asyncio",
                "--http",
                "h11",
            ],
        ),
        "geoportal servir": Server("demo", [], {"GEOPORTAL_DATABASE_URL": url}, "/salud", command=[cli, "servir"]),
    }
    best: dict[tuple[str, int], dict] = {}
    for _ in range(rounds):
        for name, server in servers.items():
            base = server.start()
            try:
                for path in paths:  # warm the cache: every tile once
                    httpx.get(base + path, headers={"Accept-Encoding": "gzip"}, timeout=60)
                for c in (1, 16):
                    r = warm(base, paths, c, seconds)
                    if (name, c) not in best or r["tiles_s"] > best[(name, c)]["tiles_s"]:
                        best[(name, c)] = r
            finally:
                server.stop()
                server.log.seek(0, os.SEEK_END)
                best[(name, "log")] = server.log.tell()
    for name in servers:
        for c in (1, 16):
            r = best[(name, c)]
            print(
                f"  {name:<32} caliente, concurrencia {c:>2}: {r['tiles_s']:8.0f} teselas/s"
                f"  p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms  errores {r['errores']}",
                flush=True,
            )
        size = f"{best[(name, 'log')]:,}".replace(",", ".")
        print(f"  {name:<32} registro: {size} bytes", flush=True)


if __name__ == "__main__":
    main()
