"""Benchmark: national accessibility surfaces (geoportal.superficies) and raster tiles.

    .venv/bin/python bench/superficies.py [--tipo usf] [--celda 500] [--teselas 200]

Needs no database: the delivery points are the product's own (``geoportal.puntos``, real
schools and health posts plus synthetic points, seed 1). Times, for one point type:

* the national grid and its mask (department polygons, EPSG:32721);
* the **distance** surface (geodesic km from every cell centre, k-d tree);
* the **travel-time** surface (roads burnt as speeds, ``MCP_Geometric``);
* writing each as a COG with overviews (rio-cogeo);
* raster tiles: ``--teselas`` PNG tiles at zooms 6-10 over Paraguay, cold (rendered in this
  process through the same reader, colour map and rescale as ``/raster/...``) and warm
  (through the app's route and its tile cache, FastAPI TestClient, one connection); the
  vector figure beside them, from bench/teselas.py, is over HTTP with wrk.

Prints cells/s beside AccessMod's published figure: a 146 M-cell Madagascar surface in
22 min on 2 CPUs (accessmod issue 360: about 110 600 cells/s), and the peak memory.
Targets (issue 23): distance < 30 s, travel time < 120 s on 2 cores. The machine these
figures come from is shared (2 cores, 8 agents): they are pessimistic.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.comun import cpu_count, peak_rss_gb
from geoportal import superficies as s

ACCESSMOD_CELDAS_S = 146e6 / (22 * 60)
TESELAS_VECTORIALES_S = 7103  # README, bench/teselas.py: warm, concurrency 16 (wrk)


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


def teselas_calientes(home: Path, lista, vueltas: int = 5) -> float:
    """Warm tiles through the app's route (its in-memory tile cache), FastAPI's TestClient."""
    os.environ["GEOPORTAL_HOME"] = str(home)
    from fastapi.testclient import TestClient

    from api.app import create_app
    from geoportal.settings import get_settings

    get_settings.cache_clear()

    cliente = TestClient(create_app())
    urls = [f"/raster/bench/usf_tiempo/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png" for t in lista]
    for u in urls:
        r = cliente.get(u)
        assert r.status_code == 200, r.text
    start = time.perf_counter()
    for _ in range(vueltas):
        for u in urls:
            cliente.get(u)
    return len(urls) * vueltas / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tipo", default="usf")
    p.add_argument("--celda", type=float, default=s.CELDA_M)
    p.add_argument("--teselas", type=int, default=200)
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
        (Path(tmp) / "superficies" / "bench").mkdir(parents=True)
        os.replace(Path(tmp) / "tiempo.tif", Path(tmp) / "superficies" / "bench" / "usf_tiempo.tif")
        tps, lista = teselas(Path(tmp) / "superficies" / "bench" / "usf_tiempo.tif", "tiempo", a.teselas)
        calientes = teselas_calientes(Path(tmp), lista)
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
    print(
        f"Teselas ráster: en frío {fmt(tps)}/s (lectura, reproyección y PNG, en proceso); en caliente {fmt(calientes)}/s "
        f"(caché de la ruta, TestClient, 1 conexión); teselas vectoriales (HTTP, wrk, c=16): {fmt(TESELAS_VECTORIALES_S)}/s"
    )
    print(f"Memoria pico: {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
