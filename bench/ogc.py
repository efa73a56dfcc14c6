"""Benchmark: OGC API Features paging at depth, and ogr2ogr of a whole collection.

    .venv/bin/python bench/teselas.py --ambito pais      # once: loads the benchmark database
    .venv/bin/python bench/ogc.py [--limite 100] [--repeticiones 5] [--tipg /ruta/a/venv/bin/python]

On the benchmark database (bench/comun.py) it starts our server (uvicorn, one process)
and measures, for the collection ``cobertura`` (every level) at offsets 0 / 2.900 /
8.000 and ``--limite`` features a page:

* **antes (OFFSET)**: the statement the items route ran before keyset paging
  (``… ORDER BY codigo LIMIT n OFFSET k`` with the GeoJSON built in the select list, so
  every skipped row was built too), run on the public role in the same session;
* **ahora (SQL)**: today's statement (``api.publico.consultas.feature_sql``): keys first
  (after the cursor, or skipping keys only), JSON for the page's rows only;
* **ahora (HTTP, cursor)** and **ahora (HTTP, offset)**: the whole request through
  uvicorn, following the ``next`` cursor to that depth, or with ``offset`` (kept for old
  clients);
* **tipg** (optional, ``--tipg`` = a Python with tipg installed, e.g. a separate venv: it
  pins its own FastAPI) serving ``publico.cobertura`` with ``offset``;
* ``ogr2ogr`` of ``cobertura`` to a GeoPackage at GDAL's default page size: wall time and
  features copied against ``count(*)``.

Median of ``--repeticiones`` runs each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bench.comun import bench_url, cpu_count
from bench.teselas import Server
from geoportal.db import public_password

COLECCION = "cobertura"
PROFUNDIDADES = (0, 2900, 8000)


def old_statement(columns: list[tuple[str, sql.Composable]]) -> sql.Composed:
    """The items statement before keyset paging (git show 336c4ab:api/publico/consultas.py)."""
    props = sql.SQL(", ").join(sql.SQL("{} AS {}").format(expr, sql.Identifier(name)) for name, expr in columns)
    return sql.SQL(
        "SELECT json_build_object('type', 'Feature', 'id', t.codigo, 'geometry', ST_AsGeoJSON(t.geom, 6)::json,"
        " 'properties', (SELECT row_to_json(p) FROM (SELECT {props}) p))::text FROM publico.cobertura t"
        " ORDER BY t.codigo LIMIT %s OFFSET %s"
    ).format(props=props)


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def cursor_at(base: str, depth: int, limit: int) -> str:
    """The ``next`` URL whose page starts at ``depth`` (walked once, with a page of ``depth``)."""
    if depth == 0:
        return f"{base}/ogc/collections/{COLECCION}/items?limit={limit}"
    page = httpx.get(f"{base}/ogc/collections/{COLECCION}/items?limit={depth}", timeout=300).json()
    href = next(l["href"] for l in page["links"] if l["rel"] == "next" and l["type"] == "application/geo+json")
    return href.replace(f"limit={depth}", f"limit={limit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limite", type=int, default=100)
    parser.add_argument("--repeticiones", type=int, default=5)
    parser.add_argument("--tipg", help="Python con tipg instalado (otro entorno virtual).")
    parser.add_argument("--sin-ogr2ogr", action="store_true")
    args = parser.parse_args()

    from api.publico.consultas import Filtros, Pagina, _cobertura, feature_sql

    url = bench_url(fresh=False)
    public = make_url(url).set(username="geoportal_publico", password=public_password())
    public_url = public.render_as_string(hide_password=False)
    with psycopg.connect(url) as conn:
        total = conn.execute("SELECT count(*) FROM publico.cobertura").fetchone()[0]
    print(
        f"Benchmark OGC API Features ({cpu_count()} núcleos): colección {COLECCION}, {total} elementos, "
        f"página de {args.limite}, mediana de {args.repeticiones}",
        flush=True,
    )

    fuente = _cobertura(None)
    results: dict[str, dict[int, float]] = {}
    with psycopg.connect(public_url, autocommit=True) as conn:
        columns = fuente.columnas(conn)
        clauses, params = fuente.where(Filtros())
        old = old_statement(columns)
        results["antes (OFFSET, SQL)"] = {
            d: median_ms(lambda d=d: conn.execute(old, [args.limite, d]).fetchall(), args.repeticiones)
            for d in PROFUNDIDADES
        }
        keys = {
            d: conn.execute(
                "SELECT codigo, nivel FROM publico.cobertura ORDER BY codigo, nivel OFFSET %s LIMIT 1", (d - 1,)
            ).fetchone()
            if d
            else None
            for d in PROFUNDIDADES
        }

        def new(d: int):
            query, page = feature_sql(fuente, columns, clauses, pagina=Pagina(args.limite, keys[d], 0))
            return conn.execute(query, [*params, *page]).fetchall()

        results["ahora (cursor, SQL)"] = {d: median_ms(lambda d=d: new(d), args.repeticiones) for d in PROFUNDIDADES}

        def new_offset(d: int):
            query, page = feature_sql(fuente, columns, clauses, pagina=Pagina(args.limite, None, d))
            return conn.execute(query, [*params, *page]).fetchall()

        results["ahora (offset, SQL)"] = {
            d: median_ms(lambda d=d: new_offset(d), args.repeticiones) for d in PROFUNDIDADES
        }

    ours = Server("propio", ["api.app:create_app", "--factory"], {"GEOPORTAL_DATABASE_URL": url}, "/salud")
    base = ours.start()
    try:
        with httpx.Client(timeout=300) as client:
            client.get(f"{base}/ogc/collections/{COLECCION}/items?limit=1")
            urls = {d: cursor_at(base, d, args.limite) for d in PROFUNDIDADES}
            results["ahora (HTTP, cursor)"] = {
                d: median_ms(lambda d=d: client.get(urls[d]).content, args.repeticiones) for d in PROFUNDIDADES
            }
            results["ahora (HTTP, offset)"] = {
                d: median_ms(
                    lambda d=d: (
                        client.get(
                            f"{base}/ogc/collections/{COLECCION}/items", params={"limit": args.limite, "offset": d}
                        ).content
                    ),
                    args.repeticiones,
                )
                for d in PROFUNDIDADES
            }
            asuncion = client.get(
                f"{base}/ogc/collections/cobertura_h3_8/items",
                params={"bbox": "-57.70,-25.40,-57.50,-25.20", "limit": 10000},
                headers={"Accept-Encoding": "gzip"},
            )
            plain, sent = (f"{n:,}".replace(",", ".") for n in (len(asuncion.content), asuncion.num_bytes_downloaded))
            print(f"  ítems H3 res. 8 sobre Asunción: {plain} B sin comprimir, {sent} B enviados (gzip)", flush=True)
        ogr = None
        if not args.sin_ogr2ogr and shutil.which("ogr2ogr"):
            with tempfile.TemporaryDirectory() as folder:
                target = Path(folder) / "cobertura.gpkg"
                start = time.perf_counter()
                subprocess.run(
                    ["ogr2ogr", "-f", "GPKG", str(target), f"OAPIF:{base}/ogc", COLECCION],
                    check=True,
                    capture_output=True,
                    timeout=3600,
                )
                seconds = time.perf_counter() - start
                copied = int(
                    subprocess.run(
                        ["ogrinfo", "-ro", "-so", str(target), COLECCION], capture_output=True, text=True, check=True
                    )
                    .stdout.split("Feature Count:")[1]
                    .split()[0]
                )
            ogr = (seconds, copied)
    finally:
        ours.stop()

    if args.tipg:
        tipg = Server(
            "tipg",
            [],
            {"DATABASE_URL": public_url, "TIPG_DB_SCHEMAS": '["publico"]'},
            "/collections",
            command=[
                args.tipg,
                "-m",
                "uvicorn",
                "tipg.main:app",
                "--host",
                "127.0.0.1",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
        )
        tbase = tipg.start()
        try:
            with httpx.Client(timeout=300) as client:
                items = f"{tbase}/collections/publico.cobertura/items"
                client.get(items, params={"limit": 1})
                results["tipg (offset)"] = {
                    d: median_ms(
                        lambda d=d: client.get(items, params={"limit": args.limite, "offset": d}).content,
                        args.repeticiones,
                    )
                    for d in PROFUNDIDADES
                }
        finally:
            tipg.stop()

    print("  — tiempo de una página (ms, mediana) —")
    print(f"  {'':<24}" + "".join(f"{'offset ' + format(d, ',').replace(',', '.'):>16}" for d in PROFUNDIDADES))
    for name, row in results.items():
        print(f"  {name:<24}" + "".join(f"{row[d]:16.1f}" for d in PROFUNDIDADES), flush=True)
    if ogr:
        print(
            f"  ogr2ogr de {COLECCION} (tamaño de página por defecto de GDAL): {ogr[0]:.1f} s, "
            f"{ogr[1]} de {total} elementos copiados",
            flush=True,
        )
    print(json.dumps({k: {str(d): round(v, 1) for d, v in row.items()} for k, row in results.items()}))


if __name__ == "__main__":
    main()
