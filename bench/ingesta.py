"""Benchmark: generate the whole country (synthetic FIPS) and ingest it.

    .venv/bin/python bench/ingesta.py [--ambito pais] [--muestra-par 200000]

Prints seconds and rows/s per stage and the peak memory, then compares our ingest (COPY
into a staging table + one set-based upsert, with full validation and quarantine) with
the usual peer, ``GeoDataFrame.to_postgis`` (SQLAlchemy batched INSERTs, no validation),
on the same household rows in the same run. Target: national generate +
ingest under 90 s on 2 cores, peak memory under 6 GB.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geopandas as gpd
import pandas as pd
import psycopg
from sqlalchemy import create_engine

from bench.comun import OUT, bench_url, cpu_count, peak_rss_gb, stage
from geoportal.db import sqlalchemy_url
from geoportal.ingest import ingest_file
from geoportal.puntos import write_points
from geoportal.synthetic import generate
from geoportal.territory import load_territory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ambito", default="pais")
    parser.add_argument("--semilla", type=int, default=1)
    parser.add_argument("--muestra-par", type=int, default=200_000, help="hogares para el par to_postgis")
    args = parser.parse_args()

    folder = OUT / f"sintetico-{args.ambito}"
    folder.mkdir(parents=True, exist_ok=True)
    url = bench_url(fresh=True)
    results: dict[str, float] = {}
    print(f"Benchmark de ingesta ({args.ambito}, {cpu_count()} núcleos)")
    with psycopg.connect(url) as conn:
        with stage("territorio + puntos (real y sintético)", results):
            load_territory(conn)
            write_points(folder / "puntos.csv", semilla=args.semilla)
            ingest_file(folder / "puntos.csv", "puntos", conn)
        points = pd.read_csv(folder / "puntos.csv", dtype={"codigo_distrito": str})
        start = time.perf_counter()
        with stage("generación sintética", results):
            counts = generate(args.ambito, args.semilla, folder, puntos=points)
        n_h, n_p = counts["hogares"], counts["personas"]
        with stage("ingesta hogares", results, n_h):
            rh = ingest_file(folder / "hogares.csv", "hogares", conn)
        with stage("ingesta personas", results, n_p):
            rp = ingest_file(folder / "personas.csv", "personas", conn)
        total = time.perf_counter() - start
        assert rh.cuadra() and rp.cuadra()
        with stage("re-ingesta hogares (mismo archivo: sin cambios)", results, n_h):
            again = ingest_file(folder / "hogares.csv", "hogares", conn)
        assert again.ya_cargado and again.nuevas == 0

    print(f"  generación + ingesta: {total:.1f} s para {n_h:,} hogares y {n_p:,} personas".replace(",", "."))
    print(f"  cuarentena: hogares {rh.cuarentena}, personas {rp.cuarentena}")

    # Peer: geopandas.to_postgis on a sample of the same households, same server.
    sample = pd.read_csv(folder / "hogares.csv", dtype=str, nrows=args.muestra_par)
    gdf = gpd.GeoDataFrame(
        sample, geometry=gpd.points_from_xy(sample["lon"].astype(float), sample["lat"].astype(float)), crs=4326
    )
    engine = create_engine(sqlalchemy_url(url))
    start = time.perf_counter()
    gdf.to_postgis("par_to_postgis", engine, schema="public", if_exists="replace", chunksize=10_000)
    peer_seconds = time.perf_counter() - start
    ours_rate = n_h / results["ingesta hogares"]
    peer_rate = len(sample) / peer_seconds
    print(
        f"  par geopandas.to_postgis: {len(sample):,} hogares en {peer_seconds:.2f} s ({peer_rate:,.0f} filas/s)".replace(
            ",", "."
        )
    )
    print(
        f"  razón ingesta propia / to_postgis (filas/s): {ours_rate / peer_rate:.2f}x "
        f"(la propia además valida y registra cuarentena)"
    )
    print(f"  memoria pico: {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
