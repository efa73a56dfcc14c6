"""Benchmark: this code against an earlier revision, alternated on the same national database.

    .venv/bin/python bench/comparar.py --contra 0f82321 [--rondas 2] [--corridas-distrito 8]

The machine's speed drifts 15-25 % within minutes (a shared 2-core machine): two figures
taken minutes apart say little. So each round runs the peer's code and then ours, each in
a process of its own on the same database (``geoportal_bench``, after bench/ingesta.py):
a national computation (wall seconds, CPU, peak memory), then the one-district update of
bench/calculo.py's district several times, each after a contrarreferencia that changes one
person's USF enrolment (median and minimum). The peer's code is a git
worktree of the revision asked for, with this checkout's state (the same disclosure
secret) and the same server (never a cluster of its own).
Each code's district updates follow its own national computation (the live table is the
one it wrote). ``--calma S`` waits S seconds before each run: after a national computation
autovacuum analyses its new tables (~10 s of one core) and, without the wait, that lands
on whichever code runs next. The database ends as our code leaves it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.comun import OUT, bench_url, cpu_count
from geoportal.db import database_url

ROOT = Path(__file__).resolve().parents[1]
DISTRICT = "1116"

# Run in the child, with the code under test first on sys.path (the peer's may keep
# compute_district in geoportal.pipeline).
CHILD = """
import json, resource, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import psycopg
from geoportal.pipeline import compute_all
try:
    from geoportal.actualizacion import compute_district
except ImportError:
    from geoportal.pipeline import compute_district
url, district, runs = sys.argv[2], sys.argv[3], int(sys.argv[4])
with psycopg.connect(url) as conn:
    wall, cpu = time.perf_counter(), time.process_time()
    compute_all(conn)
    national = (time.perf_counter() - wall, time.process_time() - cpu)
    compute_district(conn, district)  # warm: the first update after the national one
    # Each update follows a contrarreferencia (delivered, then withdrawn, and so on): one
    # person's USF enrolment changes, as after a Mesa's referral is answered.
    person = conn.execute(
        "SELECT p.persona_id FROM nominal.persona p JOIN nominal.hogar h USING (hogar_id)"
        " WHERE h.codigo_distrito = %s AND NOT ('USF_ADSCRIPCION' = ANY (p.servicios))"
        " ORDER BY p.persona_id LIMIT 1",
        (district,),
    ).fetchone()[0]
    seconds = []
    for run in range(runs):
        conn.execute(
            "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
            " VALUES ('persona', %s, 'USF_ADSCRIPCION', %s, current_date, 'contrarreferencia (benchmark)')",
            (person, run % 2 == 0),
        )
        conn.commit()
        start = time.perf_counter()
        compute_district(conn, district)
        seconds.append(time.perf_counter() - start)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
print(json.dumps({"nacional": national[0], "cpu": national[1], "memoria": rss,
                  "distrito": statistics.median(seconds), "distrito_min": min(seconds)}))
"""


def run(root: Path, url: str, runs: int, env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), url, DISTRICT, str(runs)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contra", required=True, help="revisión de git del par (p. ej. el comienzo de la sesión)")
    parser.add_argument("--rondas", type=int, default=2)
    parser.add_argument("--corridas-distrito", type=int, default=8)
    parser.add_argument("--calma", type=float, default=0.0, help="segundos de espera antes de cada corrida")
    args = parser.parse_args()

    url = bench_url(fresh=False)
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": database_url()}  # the peer reads this server, not its own
    revision = subprocess.run(
        ["git", "rev-parse", "--short", args.contra], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    peer = OUT / f"par-{revision}"
    if not peer.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "add", "--detach", str(peer), revision], cwd=ROOT, check=True)
    if not (peer / ".geoportal").exists():  # the same state: above all the disclosure secret (clave_sdc)
        (peer / ".geoportal").symlink_to(ROOT / ".geoportal")
    print(f"Comparación con {revision} ({cpu_count()} núcleos), alternada en la misma base; distrito {DISTRICT}")
    results: dict[str, list[dict]] = {"par": [], "propio": []}
    try:
        for round_ in range(1, args.rondas + 1):
            for label, root in (("par", peer), ("propio", ROOT)):
                time.sleep(args.calma)
                r = run(root, url, args.corridas_distrito, env)
                results[label].append(r)
                print(
                    f"  ronda {round_} {label:<7} nacional {r['nacional']:6.2f} s (CPU {r['cpu']:6.2f} s, "
                    f"memoria {r['memoria']:.2f} GB) · distrito mediana {r['distrito']:.3f} s, "
                    f"mín. {r['distrito_min']:.3f} s",
                    flush=True,
                )
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(peer)], cwd=ROOT, check=False)
    for key, name in (("nacional", "cálculo nacional"), ("distrito", "actualización del distrito (mediana)")):
        ours = statistics.median(r[key] for r in results["propio"])
        theirs = statistics.median(r[key] for r in results["par"])
        print(f"  {name:<38} propio {ours:7.3f} s · par {theirs:7.3f} s · razón par / propio {theirs / ours:.2f}x")


if __name__ == "__main__":
    main()
