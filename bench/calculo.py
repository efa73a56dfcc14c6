"""Benchmark: national recompute of status, access, Logros and protected aggregates.

    .venv/bin/python bench/calculo.py          # after bench/ingesta.py has loaded the country

Prints seconds per stage and peak memory for ``geoportal calcular``, then the one-district
incremental update after a contrarreferencia, and compares our nearest-facility step
(3-D k-d tree on the sphere) with the usual peer, geopandas ``sjoin_nearest`` in UTM 21S,
on the same households and USF in the same run. Targets (issue 25, 2 cores): full
recompute under 40 s with peak memory no higher than 4.3 GB; one-district update under
0.5 s; what-if of 10 new points under 2 s. Each figure is printed beside its target and
the one measured before the binary Arrow transfer (issue 25: 71.3 s and 1.52 s on an
unloaded 2-core machine). The machine may be shared: CPU seconds of this process are
printed beside the wall clock (the database server's work is not in them).
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geopandas as gpd
import numpy as np
import psycopg

from bench.comun import bench_url, cpu_count, peak_rss_gb, stage
from geoportal.actualizacion import compute_district
from geoportal.coverage import Units
from geoportal.geodesia import nearest_km
from geoportal.pipeline import compute_all, cutoff_in_force
from geoportal.whatif import PuntoNuevo, simulate

DISTRICT = "1116"
# (target, figure before issue 25) in seconds
TARGETS = {"nacional": (40.0, 71.3), "distrito": (0.5, 1.52), "simulacion": (2.0, None)}


def beside(kind: str, seconds: float, cpu: float) -> str:
    target, before = TARGETS[kind]
    mark = "cumple" if seconds < target else "NO cumple"
    was = f"; antes {before:.2f} s" if before else ""
    return f"  [objetivo < {target:g} s: {mark}{was}; CPU de este proceso {cpu:.2f} s]"


def main() -> None:
    url = bench_url(fresh=False)
    with psycopg.connect(url) as conn:
        households = conn.execute("SELECT count(*) FROM nominal.hogar").fetchone()[0]
        if households == 0:
            sys.exit("La base de benchmark está vacía: ejecute primero bench/ingesta.py")
        print(f"Benchmark de cálculo ({households:,} hogares, {cpu_count()} núcleos)".replace(",", "."))
        results: dict[str, float] = {}
        cpu = time.process_time()
        with stage("cálculo nacional completo", results):
            outcome = compute_all(conn)
        print(beside("nacional", results["cálculo nacional completo"], time.process_time() - cpu))
        for name, seconds in outcome["segundos"].items():
            print(f"      {name:<38} {seconds:8.2f} s")
        print(f"  áreas publicadas: {outcome['areas']:,}".replace(",", "."))

        person = conn.execute(
            "SELECT p.persona_id FROM nominal.persona p JOIN nominal.hogar h USING (hogar_id)"
            " WHERE h.codigo_distrito = %s AND NOT ('USF_ADSCRIPCION' = ANY (p.servicios)) LIMIT 1",
            (DISTRICT,),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
            " VALUES ('persona', %s, 'USF_ADSCRIPCION', true, %s, 'contrarreferencia (benchmark)')",
            (person, date.today()),
        )
        conn.commit()
        cpu = time.process_time()
        with stage(f"actualización incremental del distrito {DISTRICT}", results):
            incremental = compute_district(conn, DISTRICT)
        print(
            beside("distrito", results[f"actualización incremental del distrito {DISTRICT}"], time.process_time() - cpu)
        )
        for name, seconds in incremental["segundos"].items():
            print(f"      {name:<38} {seconds:8.2f} s")

        # What-if: 10 new USF where the district's households are (spread over its extent).
        homes = conn.execute(
            "SELECT lon, lat FROM nominal.hogar WHERE codigo_distrito = %s ORDER BY hogar_id", (DISTRICT,)
        ).fetchall()
        conn.commit()
        nuevos = [
            PuntoNuevo("usf", float(lon), float(lat), 300) for lon, lat in homes[:: max(len(homes) // 10, 1)][:10]
        ]
        cpu = time.process_time()
        with stage(f"simulación: {len(nuevos)} USF nuevas en el distrito {DISTRICT}", results):
            simulate(conn, DISTRICT, agregar=nuevos, fecha_corte=cutoff_in_force(conn))
        print(
            beside(
                "simulacion",
                results[f"simulación: {len(nuevos)} USF nuevas en el distrito {DISTRICT}"],
                time.process_time() - cpu,
            )
        )

        units = Units.from_db(conn, date.today())
    usf = units.puntos[units.puntos["tipo"] == "usf"]
    lon, lat = units.hogares["lon"].to_numpy(float), units.hogares["lat"].to_numpy(float)
    start = time.perf_counter()
    ours, _ = nearest_km(lon, lat, usf["lon"].to_numpy(float), usf["lat"].to_numpy(float))
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    h = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326).to_crs(32721)
    u = gpd.GeoDataFrame(geometry=gpd.points_from_xy(usf["lon"], usf["lat"]), crs=4326).to_crs(32721)
    peer = gpd.sjoin_nearest(h, u, distance_col="d")
    peer_km = peer.groupby(level=0)["d"].min().to_numpy() / 1000
    peer_s = time.perf_counter() - start
    diff = np.abs(ours - peer_km) / np.maximum(peer_km, 1e-9)
    print(f"  vecino más cercano (hogar → USF), {len(lon):,} hogares × {len(usf):,} USF:".replace(",", "."))
    print(f"      propio (k-d tree 3-D, esfera)   {ours_s:8.2f} s")
    print(f"      par geopandas.sjoin_nearest     {peer_s:8.2f} s (UTM 21S)")
    print(
        f"      razón par / propio               {peer_s / ours_s:8.1f}x; diferencia mediana de distancia "
        f"{np.median(diff) * 100:.2f} % (esfera vs. proyección UTM)"
    )
    print(f"  memoria pico: {peak_rss_gb():.2f} GB (objetivo ≤ 4,3 GB, la de antes)")


if __name__ == "__main__":
    main()
