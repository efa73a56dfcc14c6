"""Shared set-up of the benchmarks: a scratch database on the configured server.

The benchmarks never touch the portal's own database: they create ``geoportal_bench``
on the same server (embedded cluster or GEOPORTAL_DATABASE_URL), migrate it and load the
real territory and delivery points.
"""

from __future__ import annotations

import os
import resource
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from geoportal import migrate
from geoportal.db import database_url

BENCH_DB = "geoportal_bench"
OUT = Path(__file__).resolve().parent / "salida"


def bench_url(fresh: bool) -> str:
    admin = database_url()
    url = make_url(admin).set(database=BENCH_DB).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)).fetchone()
        if fresh and exists:
            conn.execute(f'DROP DATABASE "{BENCH_DB}" WITH (FORCE)')
        if fresh or not exists:
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
            migrate.upgrade(url=url)
    return url


def peak_rss_gb() -> float:
    """Peak resident memory of this process and its finished children, in GB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024 / 1024


@contextmanager
def stage(name: str, results: dict, rows: int | None = None):
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    results[name] = seconds
    rate = f"  ({rows / seconds:,.0f} filas/s)".replace(",", ".") if rows else ""
    print(f"  {name:<42} {seconds:8.2f} s{rate}", flush=True)


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))
