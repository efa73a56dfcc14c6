"""Benchmark: disclosure control of one national release, today's design against the previous one.

    .venv/bin/python bench/divulgacion.py [--antes REVISION] [--base URL]

Reads the exact aggregates of the portal's database (``calculo.agregado`` and the fine
cells; after ``geoportal demo`` or ``geoportal calcular``), protects them with today's
``geoportal.disclosure`` and with the package as it was at REVISION (default: the last
commit before one offset per count, 29fa052), in the same run, and prints:

* information loss side by side: areas and households reserved, share of counts changed
  and mean absolute change, by level and zone (``disclosure.information_loss``);
* seconds of each ``protect``;
* how often one area publishes different values for columns that count the same units
  (the symptom a map user saw: 10 households in one column, 15 in another);
* with ``--atacante``: the outside attacker of ``tests/ataque.py`` on the household counts
  of the current public release (hierarchies, districts minus hexagons, the catalogue's
  relations): counts of 1-9 pinned and published counts left with fewer than B values.
  (Only today's release is in the database: the previous design's figure is the outside
  review's, 4,578 of 6,421, not this run's.)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import pandas as pd
import psycopg

from geoportal import aggregate as agg
from geoportal import disclosure
from geoportal.catalog import default_catalog
from geoportal.db import database_url
from geoportal.dbcopy import copy_out
from geoportal.publicacion import secret_key
from geoportal.settings import get_settings

BEFORE = "29fa052"


def previous_package(revision: str, folder: Path):
    """The disclosure package at ``revision``, importable as ``disclosure_antes``."""
    target = folder / "disclosure_antes"
    target.mkdir()
    names = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{revision}:geoportal/disclosure"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for name in names:
        if name.endswith(".py"):
            text = subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{revision}:geoportal/disclosure/{name}"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            (target / name).write_text(re.sub(r"geoportal\.disclosure\b", "disclosure_antes", text))
    sys.path.insert(0, str(folder))
    import disclosure_antes

    return disclosure_antes


def split_values(protected: pd.DataFrame, fam) -> tuple[int, int]:
    """(area, family) pairs with more than one published value, of those with several columns."""
    shown = protected[~protected["reservado"]]
    pairs = differing = 0
    for key in {fam.family[c] for c in fam.family}:
        members = [c for c in fam.members(key) if c in shown]
        if len(members) > 1:
            pairs += len(shown)
            differing += int((shown[members].nunique(axis=1) > 1).sum())
    return pairs, differing


HOUSEHOLD_COUNTS = [
    "hogares",
    "l9_universo",
    "agua_aplica",
    "electricidad_aplica",
    "saneamiento_aplica",
    "vivienda_aplica",
    "tekopora_aplica",
    "hogares_urbanos",
    "agua_cubiertos",
    "l9_protegidos",
]


def attack(url: str) -> None:
    """The attacker on the release's household counts (a district without a polygon, D0222,
    has no atoms the attacker can see: the truth is read without that check)."""
    from tests import ataque

    start = time.perf_counter()
    model = ataque.build_model(url, HOUSEHOLD_COUNTS)
    true = ataque.truth(url, model, HOUSEHOLD_COUNTS, strict=False)
    bounds = ataque.solve(model, HOUSEHOLD_COUNTS, relations=ataque.catalogue_relations(HOUSEHOLD_COUNTS))
    shown = ((model.entities["kind"] == "fila") & model.entities["hogares"].notna()).sum()
    narrow = [n for c in HOUSEHOLD_COUNTS for n in ataque.narrow_published(model, bounds, c)]
    small = 0
    for c in HOUSEHOLD_COUNTS:
        lo, hi = bounds[c]
        t = true[c].to_numpy()
        small += int(((t >= 1) & (t < ataque.T) & (lo == hi)).sum())
    areas = sorted({(n[0], n[1], n[3], n[4]) for n in narrow})
    print(
        f"\natacante ({time.perf_counter() - start:.0f} s): {shown} áreas publicadas; conteos de 1-9 fijados: {small};"
        f" conteos publicados con menos de {ataque.BASE} valores: {len(narrow)} en {len(areas)} áreas {areas[:6]}"
        " (revisión externa, diseño anterior: 4.578 de 6.421 conteos de hogares)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--antes", default=BEFORE, help="revisión del diseño anterior")
    parser.add_argument("--base", default=None, help="URL de la base (por defecto la del geoportal)")
    parser.add_argument("--atacante", action="store_true", help="correr también el atacante externo sobre los hogares")
    args = parser.parse_args()
    settings = get_settings()
    catalog = default_catalog()
    counts, _sums = agg.measure_names(catalog)
    url = args.base or database_url()
    with psycopg.connect(url) as conn:
        agregado = copy_out(conn, "SELECT * FROM calculo.agregado ORDER BY nivel, codigo", typed=True)
        fine = copy_out(
            conn, "SELECT codigo_distrito, codigo_2012, dpto, h3_8, hogares FROM calculo.contribucion", typed=True
        )
    fine[["h3_8", "hogares"]] = fine[["h3_8", "hogares"]].astype(np.int64)
    hogares = int(agregado.loc[agregado["nivel"] == "pais", "hogares"].sum())
    dots = lambda n: f"{n:,}".replace(",", ".")
    print(f"Control de divulgación: {dots(len(agregado))} áreas, {dots(hogares)} hogares")
    secret, T, B = secret_key(settings), settings.umbral_hogares, settings.base_redondeo
    with tempfile.TemporaryDirectory() as folder:
        old = previous_package(args.antes, Path(folder))
        start, cpu = time.perf_counter(), time.process_time()
        before = old.protect(agregado, counts, T, B, secret, agg.age_partition(catalog), fine)
        t_before, c_before = time.perf_counter() - start, time.process_time() - cpu
    fam = disclosure.count_families(catalog, counts)
    start, cpu = time.perf_counter(), time.process_time()
    after = disclosure.protect(agregado, counts, T, B, secret, fam, fine).frame()
    t_after, c_after = time.perf_counter() - start, time.process_time() - cpu
    published = disclosure.information_loss(agregado, after, counts)
    previous = disclosure.information_loss(agregado, before, counts)
    both = previous.merge(published, on=["nivel", "zona", "areas"], suffixes=("_antes", "_ahora"))
    print("\nnivel        zona    áreas  reservadas %      hogares en reserv. %  cifras cambiadas %   cambio medio")
    for r in both.sort_values(["nivel", "zona"]).itertuples():
        print(
            f"{r.nivel:<12} {r.zona:<7} {r.areas:>6}  {r.areas_reservadas_pct_antes:6.2f} → {r.areas_reservadas_pct_ahora:6.2f}"
            f"   {r.hogares_en_reservadas_pct_antes:6.2f} → {r.hogares_en_reservadas_pct_ahora:6.2f}"
            f"      {r.cifras_cambiadas_pct_antes:6.2f} → {r.cifras_cambiadas_pct_ahora:6.2f}"
            f"    {r.cambio_absoluto_medio_antes:5.3f} → {r.cambio_absoluto_medio_ahora:5.3f}"
        )
    _pairs_b, diff_b = split_values(before, fam)
    pairs_a, diff_a = split_values(after, fam)
    print(
        f"\n(área, familia) con más de una columna: {dots(pairs_a)}; con valores distintos: antes {dots(diff_b)},"
        f" ahora {dots(diff_a)}"
    )
    if args.atacante:
        attack(url)
    print(
        f"protect: antes {t_before:.1f} s ({c_before:.1f} s de CPU), ahora {t_after:.1f} s ({c_after:.1f} s de CPU);"
        f" razón de CPU {c_after / c_before:.2f}"
    )


if __name__ == "__main__":
    main()
