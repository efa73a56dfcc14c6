"""Benchmark: 100 districts change, then one batched public release (target < 30 s).

    .venv/bin/python bench/publicacion.py [--distritos 100]   # after bench/ingesta.py and bench/calculo.py

Each of the first N districts (by code, with households) gets one status event that
changes a person's status (a service the person reported, recorded as no longer
received, dated the day after the interview), and is updated incrementally
(``compute_district``: exact aggregates and the live protected table, no public
release). Then the batched release: ``publish`` (national re-protection of the current
aggregates, public tables swapped) and ``tiles.publicacion.preparar_publicacion`` (legends and tile
geometries). Peer in the same run, on the same data: the full national recompute and
release (``compute_all`` + ``preparar_publicacion``), what a release would cost without
the incremental path.

The events are tagged ``benchmark:publicacion``; a new run first deletes the previous
run's, and the peer's national recompute leaves the bench database consistent.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from bench.comun import bench_url, cpu_count
from geoportal.actualizacion import compute_district
from geoportal.pipeline import compute_all
from geoportal.publicacion import publish
from tiles.publicacion import preparar_publicacion

TAG = "benchmark:publicacion"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distritos", type=int, default=100)
    args = parser.parse_args()
    url = bench_url(fresh=False)
    with psycopg.connect(url) as conn:
        if not conn.execute("SELECT to_regclass('calculo.cobertura_viva') IS NOT NULL").fetchone()[0]:
            sys.exit("La base de benchmark no tiene cálculo nacional: ejecute bench/ingesta.py y bench/calculo.py")
        removed = conn.execute("DELETE FROM nominal.estatus_evento WHERE fuente = %s", (TAG,)).rowcount
        districts = [
            r[0]
            for r in conn.execute(
                "SELECT codigo_distrito FROM nominal.hogar GROUP BY 1 ORDER BY 1 LIMIT %s", (args.distritos,)
            ).fetchall()
        ]
        # One person per district who reported a service: recorded as no longer receiving it.
        events = conn.execute(
            "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
            " SELECT DISTINCT ON (h.codigo_distrito) 'persona', p.persona_id, p.servicios[1], false,"
            "        h.fecha_relevamiento + 1, %s"
            "   FROM nominal.persona p JOIN nominal.hogar h USING (hogar_id)"
            "  WHERE h.codigo_distrito = ANY (%s) AND cardinality(p.servicios) > 0"
            "  ORDER BY h.codigo_distrito, p.persona_id",
            (TAG, districts),
        ).rowcount
        conn.commit()
        households = conn.execute("SELECT count(*) FROM nominal.hogar").fetchone()[0]
        print(
            f"Publicación por lotes ({households:,} hogares, {cpu_count()} núcleos): {len(districts)} distritos"
            f" con un evento cada uno ({events} eventos; {removed} de la corrida anterior borrados)".replace(",", ".")
        )

        updates = []
        for k, codigo in enumerate(districts, 1):
            start = time.perf_counter()
            result = compute_district(conn, codigo)
            updates.append(time.perf_counter() - start)
            assert not result["publicada"], "la actualización de un distrito no debe publicar"
            print(f"\r  actualizaciones de distrito {k}/{len(districts)}", end="", flush=True)
        ordered = sorted(updates)
        print(
            f"\r  actualización de un distrito: mediana {statistics.median(updates):.2f} s,"
            f" p95 {ordered[int(0.95 * (len(ordered) - 1))]:.2f} s, máx. {ordered[-1]:.2f} s"
            f" ({sum(updates):.0f} s los {len(updates)})"
        )
        pending = conn.execute(
            "SELECT count(*), sum(cambios) FROM calculo.actualizacion WHERE publicada_en IS NULL"
        ).fetchone()
        print(f"  pendientes de publicar: {pending[0]} actualizaciones, {pending[1]} cambios")

        start = time.perf_counter()
        released = publish(conn, forzar=True)
        publish_s = time.perf_counter() - start
        start = time.perf_counter()
        preparar_publicacion(conn)
        layers_s = time.perf_counter() - start
        assert released["publicada"]
        ours = publish_s + layers_s
        print(
            f"  publicación por lotes                     {ours:8.2f} s"
            f"  (re-protección y tablas {publish_s:.2f} s, capas {layers_s:.2f} s)   meta < 30 s"
        )

        start = time.perf_counter()
        compute_all(conn)
        national_s = time.perf_counter() - start
        start = time.perf_counter()
        preparar_publicacion(conn)
        peer = national_s + time.perf_counter() - start
        print(f"  par: recálculo nacional y publicación     {peer:8.2f} s  (razón par / propio {peer / ours:.1f}x)")


if __name__ == "__main__":
    main()
