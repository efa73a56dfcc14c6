"""Benchmark: national accessibility surfaces (geoportal.superficies) and raster tiles.

    .venv/bin/python bench/superficies.py [--tipo usf] [--celda 500] [--teselas 200] [--segundos 5]
                                          [--sin-servidor]

The surfaces need no database: the delivery points are the product's own
(``geoportal.puntos``, real schools and health posts plus synthetic points, seed 1). Times,
for one point type:

* the national grid and its mask (department polygons, EPSG:32721);
* the **distance** surface (geodesic km from every cell centre, k-d tree);
* the **travel-time** surface (roads burnt as speeds, ``MCP_Geometric``);
* writing each as a COG with overviews (rio-cogeo);
* raster tiles: ``--teselas`` PNG tiles at zooms 6-10 over Paraguay, cold (rendered in this
  process through the same reader, colour map and rescale as ``/raster/...``);
* warm tiles through the real server, in the same run: one uvicorn process of the app
  (``api.app:create_app``, as bench/teselas.py starts it) on the benchmark database
  (bench/comun.py; the pilots are loaded and published the first time), serving both the
  travel-time COG at ``/raster/bench/...`` (the file is put under the portal's surfaces
  folder for the run and removed after) and the vector layer ``logros``; each tile list
  is requested once, then looped with wrk for ``--segundos`` at concurrency 1 and 16
  (``bench.teselas.warm``). ``--sin-servidor`` skips this part.

Prints cells/s beside AccessMod's published figure: a 146 M-cell Madagascar surface in
22 min on 2 CPUs (accessmod issue 360: about 110 600 cells/s), and the peak memory of
this process and of the server (VmHWM).
Targets (issue 23): distance < 30 s, travel time < 120 s on 2 cores. The machine these
figures come from is shared (2 cores, 8 agents): they are pessimistic.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.comun import cpu_count, peak_rss_gb
from geoportal import superficies as s

ACCESSMOD_CELDAS_S = 146e6 / (22 * 60)
VERSION_BENCH = "bench"  # the version folder of the run's COG (``/raster/bench/...``)


def _t(nombre: str, trabajo, celdas: int | None = None, tiempos: dict | None = None):
    start = time.perf_counter()
    out = trabajo()
    seg = time.perf_counter() - start
    extra = f"  {celdas / seg:>12,.0f} celdas/s".replace(",", ".") if celdas else ""
    print(f"  {nombre:<38} {seg:8.2f} s{extra}", flush=True)
    if tiempos is not None:
        tiempos[nombre] = seg
    return out


def teselas(path: Path, medida: str, n: int) -> float:
    import morecantile
    from titiler.core.utils import render_image

    from api.publico.superficies import LectorSuperficie
    from capas.raster import default_rasters

    capa = default_rasters()[medida]
    tms = morecantile.tms.get("WebMercatorQuad")
    lista = [t for z in range(6, 11) for t in tms.tiles(-62.6, -27.6, -54.3, -19.3, [z])]
    rng = np.random.default_rng(1)
    lista = [lista[i] for i in rng.choice(len(lista), size=min(n, len(lista)), replace=False)]
    start = time.perf_counter()
    with LectorSuperficie(str(path)) as src:
        for t in lista:
            img = src.tile(t.x, t.y, t.z)
            img.rescale(in_range=[capa.rescala])
            render_image(img, output_format=None, colormap=capa.colormap())
    return len(lista) / (time.perf_counter() - start), lista


def pico_servidor_gb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a running process, in GB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024 / 1024
    return float("nan")


def teselas_servidor(cog: Path, lista, segundos: int) -> dict:
    """Warm raster and vector tiles/s through one real uvicorn process of the app (wrk)."""
    import psycopg

    from bench.comun import bench_url
    from bench.teselas import Server, load, tile_list, warm
    from geoportal.settings import get_settings
    from tiles.publicacion import preparar_publicacion

    url = bench_url(fresh=False)
    with psycopg.connect(url) as conn:
        publicada = conn.execute("SELECT to_regclass('publico.cobertura') IS NOT NULL").fetchone()[0]
    if not publicada:
        load(url, "pilotos")
    with psycopg.connect(url) as conn:
        preparar_publicacion(conn)
    destino = s.carpeta(get_settings().home) / VERSION_BENCH
    destino.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cog, destino / cog.name)
    rutas = {
        "ráster": [f"/raster/{VERSION_BENCH}/{cog.stem}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png" for t in lista],
        "vectorial": [f"/tiles/logros/{z}/{x}/{y}.mvt" for z, x, y in tile_list(url, 30)],
    }
    servidor = Server("propio", ["api.app:create_app", "--factory"], {"GEOPORTAL_DATABASE_URL": url}, "/salud")
    out = {}
    try:
        base = servidor.start()
        import httpx

        with httpx.Client(timeout=120) as cliente:
            for tipo, paths in rutas.items():  # once each: the route's tile cache is then warm
                for p in paths:
                    r = cliente.get(base + p)
                    assert r.status_code in (200, 204), (p, r.status_code, r.text[:200])
        for tipo, paths in rutas.items():
            for c in (1, 16):
                out[(tipo, c)] = warm(base, paths, c, segundos)
                out[(tipo, c)]["teselas"] = len(paths)
        out["pico_servidor_gb"] = pico_servidor_gb(servidor.process.pid)
    finally:
        servidor.stop()
        shutil.rmtree(destino, ignore_errors=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tipo", default="usf")
    p.add_argument("--celda", type=float, default=s.CELDA_M)
    p.add_argument("--teselas", type=int, default=200)
    p.add_argument("--segundos", type=int, default=5, help="duración de cada medición en caliente (wrk)")
    p.add_argument("--sin-servidor", action="store_true", help="sin las teselas en caliente por el servidor real")
    a = p.parse_args()
    from geoportal.puntos import build_points

    puntos = build_points(1)
    sub = puntos[puntos["tipo"] == a.tipo]
    print(
        f"Superficies de {a.tipo} ({len(sub)} puntos), celdas de {a.celda:g} m, {cpu_count()} CPU "
        "(máquina compartida: cifras pesimistas)"
    )
    tiempos: dict = {}
    rejilla, mask = _t("rejilla y máscara", lambda: s.rejilla_nacional(a.celda), tiempos=tiempos)
    celdas = rejilla.ancho * rejilla.alto
    miles = lambda x: f"{x:,}".replace(",", ".")
    print(f"  rejilla {rejilla.ancho} × {rejilla.alto} = {miles(celdas)} celdas, {miles(int(mask.sum()))} en Paraguay")
    lon, lat = sub["lon"].to_numpy(float), sub["lat"].to_numpy(float)
    dist = _t("distancia (k-d tree geodésico)", lambda: s.distancia_km(rejilla, mask, lon, lat), celdas, tiempos)
    kmh = _t("velocidades (rutas quemadas)", lambda: s.velocidades(rejilla, mask), tiempos=tiempos)
    tiempo = _t(
        "tiempo (MCP_Geometric)",
        lambda: s.tiempo_minutos(kmh, a.celda, *s.celdas_de_puntos(rejilla, mask, lon, lat)),
        celdas,
        tiempos,
    )
    with tempfile.TemporaryDirectory() as tmp:
        for nombre, valores in (("distancia", dist), ("tiempo", tiempo)):
            _t(
                f"COG {nombre} (rio-cogeo, vistas)",
                lambda v=valores, n=nombre: s.escribir_cog(Path(tmp) / f"{n}.tif", v, rejilla, {}),
                tiempos=tiempos,
            )
        cog = Path(tmp) / f"{a.tipo}_tiempo.tif"
        os.replace(Path(tmp) / "tiempo.tif", cog)
        tps, lista = teselas(cog, "tiempo", a.teselas)
        servidor = None if a.sin_servidor else teselas_servidor(cog, lista, a.segundos)
    total_d = (
        tiempos["rejilla y máscara"]
        + tiempos["distancia (k-d tree geodésico)"]
        + tiempos["COG distancia (rio-cogeo, vistas)"]
    )
    total_t = (
        tiempos["rejilla y máscara"]
        + tiempos["velocidades (rutas quemadas)"]
        + tiempos["tiempo (MCP_Geometric)"]
        + tiempos["COG tiempo (rio-cogeo, vistas)"]
    )
    fmt = lambda x: f"{x:,.0f}".replace(",", ".")
    print(
        f"Distancia, total con COG: {total_d:.1f} s (meta < 30 s); "
        f"tiempo de viaje, total con COG: {total_t:.1f} s (meta < 120 s)"
    )
    print(
        f"Celdas/s del tiempo de viaje: {fmt(celdas / tiempos['tiempo (MCP_Geometric)'])} "
        f"frente a AccessMod {fmt(ACCESSMOD_CELDAS_S)} (146 M celdas en 22 min, 2 CPU; accessmod issue 360)"
    )
    print(f"Teselas ráster en frío: {fmt(tps)}/s (lectura, reproyección y PNG, en este proceso)")
    if servidor:
        print("Teselas en caliente por el servidor real (uvicorn, un proceso; wrk, mismo servidor y misma corrida):")
        for c in (1, 16):
            r, v = servidor[("ráster", c)], servidor[("vectorial", c)]
            print(
                f"  concurrencia {c:>2}: ráster {fmt(r['tiles_s'])}/s (p50 {r['p50']:.1f} ms, {r['bytes']:.0f} B, "
                f"{r['teselas']} teselas) | vectoriales {fmt(v['tiles_s'])}/s (p50 {v['p50']:.1f} ms, "
                f"{v['bytes']:.0f} B, {v['teselas']} teselas) | errores {r['errores'] + v['errores']}"
            )
        print(f"Memoria pico del servidor: {servidor['pico_servidor_gb']:.2f} GB")
    print(f"Memoria pico del benchmark (superficies y COG): {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
