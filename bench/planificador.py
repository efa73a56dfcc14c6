"""Benchmark: the investment planner for one department and a plan's expected effect.

    .venv/bin/python bench/planificador.py                       # department 02, k = 5, on the configured base
    .venv/bin/python bench/planificador.py --departamento 11 --k 5 --puntos 10

Targets (issue 24): the planner for one department, k = 5, < 30 s; the expected effect of a
plan with 10 new points (the what-if of all of them together) < 5 s. Printed beside them:
the problem size (demand cells × candidates, pairs in reach), the greedy heuristic's value,
the gap, and the same model solved in-process by HiGHS (what the web uses). Runs on the
configured database (``geoportal demo --ambito pilotos`` is enough); it writes nothing but
audit rows. The machine is shared: figures are pessimistic.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from geoportal.db import database_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departamento", default="02")
    parser.add_argument("--tipo", default="usf")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--puntos", type=int, default=10)
    parser.add_argument("--capacidad", type=int, default=None)
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)

    from geoportal import planes, planificador

    inicio = time.perf_counter()
    import spopt.locate  # noqa: F401  (its import, libpysal included, is paid once per process)

    importar = time.perf_counter() - inicio
    print(
        f"Planificador: departamento {args.departamento}, tipo {args.tipo}, k = {args.k}"
        + (f", capacidad {args.capacidad}" if args.capacidad else "")
        + f" (importar spopt: {importar:.1f} s)"
    )
    with psycopg.connect(database_url()) as conn:
        for motor in ("cbc", "highs"):
            inicio = time.perf_counter()
            plan = planificador.planificar(
                conn, "departamento", args.departamento, args.tipo, args.k, args.capacidad, motor=motor
            )
            total = time.perf_counter() - inicio
            s = plan.solucion
            d, c, p = plan.tamano
            print(
                f"  {motor:<5} {d} celdas de demanda × {c} candidatos ({p} pares); óptimo {s.objetivo:,.0f}, codicioso "
                f"{s.codicioso:,.0f}, gap {100 * s.gap:.2f} %, {s.estado}; resolver {s.segundos:.2f} s, total {total:.2f} s"
                f" (objetivo < 30 s)"
            )
        # the plan's effect: the district of the department with the most demand, 10 sites of the planner
        distrito = max(
            plan.territorio["distritos"],
            key=lambda x: conn.execute(
                "SELECT count(*) FROM nominal.hogar WHERE codigo_distrito = %s", (x,)
            ).fetchone()[0],
        )
        sitios = planificador.planificar(conn, "distrito", distrito, args.tipo, args.puntos, motor="highs").sitios
        acciones = [
            {
                "accion_id": n,
                "tipo": "punto_nuevo",
                "estado": "prevista",
                "punto_tipo": args.tipo,
                "lon": x["lon"],
                "lat": x["lat"],
                "capacidad": 300,
                "costo": None,
            }
            for n, x in enumerate(sitios, start=1)
        ]
        plan_dict = {"plan_id": 0, "distrito": distrito, "acciones": acciones}
        inicio = time.perf_counter()
        efecto = planes.efecto(conn, plan_dict)
        segundos = time.perf_counter() - inicio
        usf = sum(s["pasan_a_con_oferta"] or 0 for s in efecto.servicios)
        print(
            f"Efecto de un plan con {len(acciones)} puntos nuevos en el distrito {distrito}: {segundos:.2f} s "
            f"(objetivo < 5 s); {usf:,} (unidad × servicio, protegidas) pasan a tener oferta al alcance."
        )
    print("Máquina compartida (2 núcleos entre varios agentes): cifras pesimistas.")


if __name__ == "__main__":
    main()
