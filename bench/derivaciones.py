"""Benchmark: the referral cycle through the real API (uvicorn) on the pilot districts.

    .venv/bin/python bench/derivaciones.py                   # builds geoportal_bench_derivaciones (pilotos)
    .venv/bin/python bench/derivaciones.py --base geoportal_bench   # on the national bench database

Measures (issue 15 targets): the Mesa's nominal list of a district (< 300 ms for ~40 k
persons), cold (the district's state computed from the database: the first read after a
change) and warm (the state kept for the session's token: pages, filters), and
contrarreferencia -> district recomputed and visible to the Mesa (< 3 s at national
scale). Peer in the same run: the list computed in-process without HTTP and audit (what
the HTTP layer costs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from geoportal import migrate  # noqa: E402
from geoportal.db import database_url  # noqa: E402

DISTRICT = "1116"


def build_pilots(url: str) -> None:
    import tempfile

    import pandas as pd

    from geoportal.ingest import ingest_file
    from geoportal.pipeline import compute_all
    from geoportal.puntos import write_points
    from geoportal.synthetic import generate
    from geoportal.territory import load_territory

    migrate.upgrade(url=url)
    folder = Path(tempfile.mkdtemp(prefix="bench-derivaciones-"))
    with psycopg.connect(url) as conn:
        load_territory(conn)
        write_points(folder / "puntos.csv", semilla=3)
        ingest_file(folder / "puntos.csv", "puntos", conn)
        generate("pilotos", 7, folder, puntos=pd.read_csv(folder / "puntos.csv", dtype={"codigo_distrito": str}))
        ingest_file(folder / "hogares.csv", "hogares", conn)
        ingest_file(folder / "personas.csv", "personas", conn)
        compute_all(conn)


def timed(call, repeat: int = 5) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="geoportal_bench_derivaciones")
    args = parser.parse_args()
    admin = database_url()
    url = make_url(admin).set(database=args.base).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.base,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{args.base}"')
    if not exists:
        print("Construyendo la base de los distritos piloto…", flush=True)
        build_pilots(url)
    else:
        migrate.upgrade(url=url)

    from institucional import Server, login

    from geoportal import lista_nominal as nominal
    from geoportal.roles import NOMINAL_ROLE, role_password
    from geoportal.usuarios import UsuarioError, create_user

    with psycopg.connect(url) as conn:
        for name, rol, scope in (("bench.mesa", "mesa_distrital", {"distrito": DISTRICT}),
                                 ("bench.usf", "institucion", {"institucion": "MSPBS", "distritos": [DISTRICT]})):
            try:
                create_user(conn, name, "clave-del-benchmark", rol, **scope)
            except UsuarioError:
                pass
        persons = conn.execute("SELECT count(*) FROM nominal.persona p JOIN nominal.hogar h USING (hogar_id)"
                               " WHERE h.codigo_distrito = %s", (DISTRICT,)).fetchone()[0]
    print(f"Distrito {DISTRICT}: {persons:,} personas".replace(",", "."))

    nominal_url = make_url(url).set(username=NOMINAL_ROLE, password=role_password(NOMINAL_ROLE)).render_as_string(
        hide_password=False)

    def in_process():
        with psycopg.connect(nominal_url) as conn:
            conn.execute("SELECT set_config('geoportal.distritos', %s, true), set_config('geoportal.institucion', '*', true)",
                         (DISTRICT,))
            return nominal.gaps(conn, DISTRICT, nominal.FiltrosLista(paquete=None))

    def cold():
        nominal.STATES.data.clear()  # the district's state is computed again
        return in_process()

    seconds, frame = timed(cold)
    print(f"  lista nominal en proceso, en frío (rol con RLS)    {seconds * 1000:8.0f} ms  ({frame.total:,} brechas)".replace(",", "."))
    seconds, frame = timed(in_process)
    print(f"  lista nominal en proceso, estado ya calculado      {seconds * 1000:8.0f} ms")

    server = Server(url)
    try:
        mesa, usf = login(server.base, "bench.mesa", "clave-del-benchmark"), login(server.base, "bench.usf", "clave-del-benchmark")
        start = time.perf_counter()
        mesa.get("/api/nominal/brechas", params={"paquete": "todos"}).raise_for_status()
        print(f"  {'lista nominal HTTP, primera del servidor (frío)':<48} {(time.perf_counter() - start) * 1000:8.0f} ms")
        for label, params in (("lista nominal HTTP, una página (100)", {"paquete": "todos"}),
                              ("lista nominal HTTP, un servicio (CPN)", {"servicio": "CPN"})):
            seconds, _ = timed(lambda: mesa.get("/api/nominal/brechas", params=params).raise_for_status())
            print(f"  {label:<48} {seconds * 1000:8.0f} ms")
        row = next(r for r in mesa.get("/api/nominal/brechas", params={"servicio": "CPN", "brecha": "derivacion",
                                                                       "limite": 1000}).json()["filas"]
                   if not r["derivacion_abierta"])
        referral = mesa.post("/api/derivaciones", json={"unidad": "persona", "unidad_id": row["unidad_id"],
                                                        "servicio": "CPN"}).json()
        start = time.perf_counter()
        answer = usf.post(f"/api/derivaciones/{referral['derivacion_id']}/contrarreferencia",
                          json={"resultado": "entregada", "fecha": date.today().isoformat()}).json()
        delivered = time.perf_counter() - start
        gone = row["unidad_id"] not in {r["unidad_id"] for r in mesa.get(
            "/api/nominal/brechas", params={"servicio": "CPN", "limite": 50_000}).json()["filas"]}
        total = time.perf_counter() - start
        print(f"  (contrarreferencia con recálculo {delivered:.2f} s; la lista siguiente, en frío, {total - delivered:.2f} s)")
        print(f"  contrarreferencia → distrito recalculado y visible {total:8.2f} s"
              f"  (recálculo {answer['recalculo']['segundos']:.2f} s; fuera de la lista: {gone})")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
