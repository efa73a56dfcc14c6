"""Benchmark: the referral cycle through the real API (uvicorn) on the pilot districts.

    .venv/bin/python bench/derivaciones.py                   # builds geoportal_bench_derivaciones (pilotos)
    .venv/bin/python bench/derivaciones.py --base geoportal_bench   # on the national bench database

Measures (issue 15 targets): the Mesa's nominal list of a district (< 300 ms for ~40 k
persons), cold (the district's state computed from the database: the first read after a
change) and warm (the state kept for the session's token: pages, filters), and
contrarreferencia -> district recomputed and visible to the Mesa (< 3 s at national
scale). Peer in the same run: the list computed in-process without HTTP and audit (what
the HTTP layer costs).

Issue 21, item 15: the contrarreferencia's response time, quiet and under 50 concurrent
public clients asking for tiles (wrk, C client, 2 threads), beside the time until the
district's figures are up to date (``GET /api/derivaciones/estado-calculo``). The latter
is what the response itself took before the recompute left the request (the same work,
under the same writers' lock, done in the request), so both figures come from one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import psycopg
from sqlalchemy.engine import make_url

from geoportal import migrate
from geoportal.db import database_url

DISTRICT = "1116"


class Server:
    """uvicorn on loopback against ``url``, run from ``cwd`` (this checkout or another)."""

    def __init__(self, url: str, cwd: str | None = None):
        from servidor_local import free_port

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=cwd or str(Path(__file__).resolve().parents[1]),
            # this checkout's state folder (role passwords), whichever code serves
            env={
                **os.environ,
                "GEOPORTAL_DATABASE_URL": url,
                "GEOPORTAL_HOME": os.environ.get(
                    "GEOPORTAL_HOME", str(Path(__file__).resolve().parents[1] / ".geoportal")
                ),
            },
            stdout=subprocess.DEVNULL,
        )
        import httpx

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/salud", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("el servidor no arrancó")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


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
    parser.add_argument("--repeticiones", type=int, default=5, help="contrarreferencias medidas por régimen")
    parser.add_argument("--segundos-carga", type=int, default=60, help="duración máxima de la carga de teselas")
    parser.add_argument("--antes", help="carpeta con otro checkout (p. ej. el commit anterior) para medirlo igual")
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

    from institucional import login

    from geoportal import lista_nominal as nominal
    from geoportal.roles import NOMINAL_ROLE, role_password
    from geoportal.usuarios import UsuarioError, create_user

    with psycopg.connect(url) as conn:
        for name, rol, scope in (
            ("bench.mesa", "mesa_distrital", {"distrito": DISTRICT}),
            ("bench.usf", "institucion", {"institucion": "MSPBS", "distritos": [DISTRICT]}),
        ):
            try:
                create_user(conn, name, "clave-del-benchmark", rol, **scope)
            except UsuarioError:
                pass
        persons = conn.execute(
            "SELECT count(*) FROM nominal.persona p JOIN nominal.hogar h USING (hogar_id) WHERE h.codigo_distrito = %s",
            (DISTRICT,),
        ).fetchone()[0]
    print(f"Distrito {DISTRICT}: {persons:,} personas".replace(",", "."))

    nominal_url = (
        make_url(url)
        .set(username=NOMINAL_ROLE, password=role_password(NOMINAL_ROLE))
        .render_as_string(hide_password=False)
    )

    def in_process():
        with psycopg.connect(nominal_url) as conn:
            conn.execute(
                "SELECT set_config('geoportal.distritos', %s, true), set_config('geoportal.institucion', '*', true)",
                (DISTRICT,),
            )
            return nominal.gaps(conn, DISTRICT, nominal.FiltrosLista(paquete=None))

    def cold():
        nominal.STATES.data.clear()  # the district's state is computed again
        return in_process()

    seconds, frame = timed(cold)
    print(
        f"  lista nominal en proceso, en frío (rol con RLS)    {seconds * 1000:8.0f} ms  ({frame.total:,} brechas)".replace(
            ",", "."
        )
    )
    seconds, frame = timed(in_process)
    print(f"  lista nominal en proceso, estado ya calculado      {seconds * 1000:8.0f} ms")

    server = Server(url)
    try:
        mesa, usf = (
            login(server.base, "bench.mesa", "clave-del-benchmark"),
            login(server.base, "bench.usf", "clave-del-benchmark"),
        )
        start = time.perf_counter()
        mesa.get("/api/nominal/brechas", params={"paquete": "todos"}).raise_for_status()
        print(
            f"  {'lista nominal HTTP, primera del servidor (frío)':<48} {(time.perf_counter() - start) * 1000:8.0f} ms"
        )
        for label, params in (
            ("lista nominal HTTP, una página (100)", {"paquete": "todos"}),
            ("lista nominal HTTP, un servicio (CPN)", {"servicio": "CPN"}),
        ):
            seconds, _ = timed(lambda params=params: mesa.get("/api/nominal/brechas", params=params).raise_for_status())
            print(f"  {label:<48} {seconds * 1000:8.0f} ms")
        row = next(
            r
            for r in mesa.get(
                "/api/nominal/brechas", params={"servicio": "CPN", "brecha": "derivacion", "limite": 1000}
            ).json()["filas"]
            if not r["derivacion_abierta"]
        )
        referral = mesa.post(
            "/api/derivaciones", json={"unidad": "persona", "unidad_id": row["unidad_id"], "servicio": "CPN"}
        ).json()
        start = time.perf_counter()
        answer = usf.post(
            f"/api/derivaciones/{referral['derivacion_id']}/contrarreferencia",
            json={"resultado": "entregada", "fecha": date.today().isoformat()},
        ).json()
        delivered = time.perf_counter() - start
        gone = row["unidad_id"] not in {
            r["unidad_id"]
            for r in mesa.get("/api/nominal/brechas", params={"servicio": "CPN", "limite": 50_000}).json()["filas"]
        }
        total = time.perf_counter() - start
        print(
            f"  (contrarreferencia, respuesta {delivered:.2f} s; la lista siguiente, en frío, {total - delivered:.2f} s)"
        )
        print(
            f"  contrarreferencia → fuera de la lista de la Mesa  {total:8.2f} s"
            f"  (actualizando: {answer['actualizando']}; fuera de la lista: {gone})"
        )
        counter_referrals_under_load(server.base, url, mesa, usf, args.repeticiones, args.segundos_carga)
    finally:
        server.stop()
    if args.antes:
        # The same measurement against an earlier checkout (the recompute inside the request),
        # same database, same run: ``git archive <commit> | tar -x -C DIR``.
        old = Server(url, cwd=args.antes)
        try:
            print(f"  — lo mismo con el código de {args.antes} (antes) —")
            mesa = login(old.base, "bench.mesa", "clave-del-benchmark")
            usf = login(old.base, "bench.usf", "clave-del-benchmark")
            counter_referrals_under_load(old.base, url, mesa, usf, args.repeticiones, args.segundos_carga)
        finally:
            old.stop()


def _deliver_one(mesa, usf, row) -> tuple[float, float]:
    """(response s, until the figures are up to date s) of one delivered contrarreferencia."""
    referral = mesa.post(
        "/api/derivaciones", json={"unidad": "persona", "unidad_id": row["unidad_id"], "servicio": "CPN"}
    )
    referral.raise_for_status()
    start = time.perf_counter()
    answer = usf.post(
        f"/api/derivaciones/{referral.json()['derivacion_id']}/contrarreferencia",
        json={"resultado": "entregada", "fecha": date.today().isoformat()},
    )
    answer.raise_for_status()
    responded = time.perf_counter() - start
    if "actualizando" not in answer.json():  # an earlier checkout: recomputed inside the request
        return responded, responded
    while mesa.get("/api/derivaciones/estado-calculo").json()["actualizando"]:
        time.sleep(0.05)
    return responded, time.perf_counter() - start


def counter_referrals_under_load(base: str, url: str, mesa, usf, n: int, seconds: int) -> None:
    from bench.teselas import CAPA, WRK_SCRIPT, tile_list

    rows = [
        r
        for r in mesa.get(
            "/api/nominal/brechas", params={"servicio": "CPN", "brecha": "derivacion", "limite": 5000}
        ).json()["filas"]
        if not r["derivacion_abierta"]
    ]
    if len(rows) < 2 * n:
        print("  (faltan brechas CPN sin derivar para medir las contrarreferencias)")
        return
    quiet = [_deliver_one(mesa, usf, rows.pop()) for _ in range(n)]
    paths = [f"/tiles/{CAPA}/{z}/{x}/{y}.mvt" for z, x, y in tile_list(url, 40)]
    loaded, tiles = [], None
    if shutil.which("wrk") is None:
        print("  (falta wrk: sin la medición bajo carga; apt-get install wrk)")
    else:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_SCRIPT % ", ".join(f'"{p}"' for p in paths))
        load = subprocess.Popen(
            ["wrk", "-t", "2", "-c", "50", "-d", f"{seconds}s", "-s", script.name, base],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(2)  # the 50 clients are up
            loaded = [_deliver_one(mesa, usf, rows.pop()) for _ in range(n)]
        finally:
            out = load.communicate(timeout=seconds + 60)[0]
            os.unlink(script.name)
        line = next((x for x in out.splitlines() if x.startswith("RESULTADO")), None)
        if line:
            requests, duration_us, p50_us, p95_us, _, errors = map(int, line.split()[1:])
            tiles = (requests / (duration_us / 1e6), p50_us / 1000, p95_us / 1000, errors)

    def med(values, k):
        return statistics.median(v[k] for v in values)

    print(f"  — contrarreferencia entregada, mediana de {n} (issue 21 #15) —")
    print(f"  {'':<34} {'respuesta':>10} {'cifras al día (= respuesta antes)':>36}")
    print(f"  {'en calma':<34} {med(quiet, 0) * 1000:8.0f} ms {med(quiet, 1):34.2f} s")
    if loaded:
        print(f"  {'con 50 clientes públicos (teselas)':<34} {med(loaded, 0) * 1000:8.0f} ms {med(loaded, 1):34.2f} s")
        print(
            f"  máximo bajo carga: respuesta {max(v[0] for v in loaded) * 1000:.0f} ms, "
            f"cifras al día {max(v[1] for v in loaded):.2f} s"
        )
    if tiles:
        print(
            f"  teselas durante la carga: {tiles[0]:,.0f}/s, p50 {tiles[1]:.1f} ms, p95 {tiles[2]:.1f} ms, "
            f"errores {tiles[3]}".replace(",", ".")
        )


if __name__ == "__main__":
    main()
