"""The persistent attacker: one known household at a time into a hidden cell, 14 releases.

The attacker controls the changes in one area (they register one household after another
in a res-8 cell that is reserved and not listed) and forces a public release after each
(the worst case: the cadence and minimum-change rules switched off). They know n_t = n_0 +
t in every area holding the cell, know the design (one secret offset o per area and
count, B * floor((n + o) / B), the area published from n + o >= T + B - 1 on) and
enumerate every (n_0, o) consistent with all 15 releases. The truth is read only to
check the enumeration is sound and to judge:

* no count below T is recovered exactly;
* no area's count, hidden or published, is left with fewer than B candidates;
* the household columns of one area publish one value (one offset per count).
"""

from __future__ import annotations

from datetime import date

import h3
import numpy as np
import pandas as pd
import psycopg
import pytest

from geoportal.actualizacion import compute_district
from geoportal.ingest import ingest_file
from geoportal.publicacion import publish
from tests.ataque import BASE, T, read, villeta_subset

CUT = date(2026, 1, 1)
RELEASES = 14
HOUSEHOLD_COLUMNS = [
    "hogares",
    "l9_universo",
    "agua_aplica",
    "electricidad_aplica",
    "saneamiento_aplica",
    "vivienda_aplica",
    "tekopora_aplica",
]


def public(url: str) -> pd.DataFrame:
    frame = read(
        url,
        "SELECT nivel, codigo, reservado, hogares, personas, l9_universo, agua_aplica, electricidad_aplica,"
        " saneamiento_aplica, vivienda_aplica, tekopora_aplica FROM publico.cobertura",
    )
    return frame.set_index(["nivel", "codigo"])


@pytest.fixture(scope="module")
def escalera(make_database, pilotos, tmp_path_factory):
    from tests.conftest import HOUSEHOLD_COLUMNS as HH
    from tests.conftest import PERSON_COLUMNS as PP
    from tests.conftest import POINT_COLUMNS, load_hand_fixture

    url = make_database("escalera")
    folder = tmp_path_factory.mktemp("escalera")
    hh, pp, points = villeta_subset(pilotos["folder"], res6_cells=1)
    load_hand_fixture(
        url, folder, points[POINT_COLUMNS].values.tolist(), hh[HH].values.tolist(), pp[PP].values.tolist(), CUT
    )
    true = read(url, "SELECT codigo, padre, hogares, personas FROM calculo.agregado WHERE nivel = 'h3_8'")
    listed = set(read(url, "SELECT codigo FROM publico.cobertura WHERE nivel = 'h3_8'")["codigo"])
    shown7 = set(read(url, "SELECT codigo FROM publico.cobertura WHERE nivel = 'h3_7' AND NOT reservado")["codigo"])
    hidden = true[~true["codigo"].isin(listed) & true["padre"].isin(shown7) & true["hogares"].between(2, 5)]
    cell = hidden.sort_values("codigo")["codigo"].iloc[0]
    lat, lon = h3.cell_to_latlng(cell)
    areas = (
        [("h3_8", cell)]
        + [(f"h3_{r}", h3.cell_to_parent(cell, r)) for r in (7, 6, 5)]
        + [("distrito", "1116"), ("departamento", "11"), ("pais", "PY")]
    )
    agregado = read(url, "SELECT nivel, codigo, hogares, personas FROM calculo.agregado").set_index(["nivel", "codigo"])
    before = agregado.loc[areas]
    releases = [public(url)]
    for t in range(1, RELEASES + 1):
        hid = f"ESCALERA{t:03d}"
        step = folder / f"paso{t}"
        step.mkdir()
        pd.DataFrame(
            [
                [
                    hid,
                    "1116",
                    "Escalera",
                    "rural",
                    "2025-11-01",
                    round(lat + 0.0001 * np.sin(t), 6),
                    round(lon + 0.0001 * np.cos(t), 6),
                    "AGUA",
                    "sintetico",
                ]
            ],
            columns=HH,
        ).to_csv(step / "h.csv", index=False)
        pd.DataFrame(
            [[f"{hid}-1", hid, "Nombre", "Apellido", "F", "1980-05-05", "no", "no", "no", "CEDULA", "sintetico"]],
            columns=PP,
        ).to_csv(step / "p.csv", index=False)
        with psycopg.connect(url) as conn:
            assert ingest_file(step / "h.csv", "hogares", conn, today=CUT).cuarentena == 0
            assert ingest_file(step / "p.csv", "personas", conn, today=CUT).cuarentena == 0
            compute_district(conn, "1116", fecha_corte=CUT)
            assert publish(conn, forzar=True)["publicada"]
        releases.append(public(url))
    return {"url": url, "cell": cell, "areas": areas, "before": before, "releases": releases}


def candidates(published: list, fine: bool) -> set[int]:
    """Every n_0 consistent with the releases, over every secret offset o in 0 .. B - 1.

    ``published[t]``: the value shown at release t (None when not shown); a shown area
    holds n + o >= T + B - 1 households. A hidden fine cell that is not listed holds at
    least one household and, reserved by the threshold or by a sibling, tells nothing else.
    """
    shown = [(t, p) for t, p in enumerate(published) if p is not None]
    if shown:
        window = range(
            max(0, int(min(p - (BASE - 1) - t for t, p in shown))), int(max(p + BASE - t for t, p in shown)) + 1
        )
    else:
        window = range(1, T + BASE - 1)
    out = set()
    for o in range(BASE):
        for n0 in window:
            if all(BASE * ((n0 + t + o) // BASE) == p for t, p in shown) and (
                not fine or all(n0 + t + o >= T + BASE - 1 for t, _ in shown)
            ):
                out.add(n0)
    return out


def test_fourteen_known_arrivals_in_a_hidden_cell_pin_no_count(escalera):
    releases, areas, before = escalera["releases"], escalera["areas"], escalera["before"]
    assert len(releases) == RELEASES + 1
    versions = read(escalera["url"], "SELECT count(DISTINCT data_version) AS n FROM publico.version")["n"].item()
    assert versions >= RELEASES + 1, "one public release per arrival (the worst case)"
    first_shown = None
    for area in areas:
        for column in ("hogares", "personas"):
            seen = [r.loc[area, column] if area in r.index and not r.loc[area, "reservado"] else None for r in releases]
            seen = [None if v is None or pd.isna(v) else int(v) for v in seen]
            if area[0] == "h3_8" and column == "hogares":
                first_shown = next((t for t, v in enumerate(seen) if v is not None), None)
            found = candidates(seen, fine=column == "hogares")
            n0 = int(before.loc[area, column])
            print(f"\n{area} {column}: true before {n0}, published {seen}, candidates {sorted(found)[:12]}")
            assert n0 in found, "the attacker's enumeration must be sound"
            assert len(found) >= BASE, (area, column, sorted(found))
        for r in releases:  # one offset per count: the household columns show one value
            if area in r.index and not r.loc[area, "reservado"]:
                assert r.loc[area, HOUSEHOLD_COLUMNS].nunique() == 1, (area, r.loc[area, HOUSEHOLD_COLUMNS].tolist())
    assert first_shown is not None, "the hidden cell reaches the threshold within the releases"
    shown_at = releases[first_shown].loc[areas[0], "hogares"]
    assert shown_at == T, "an area appears showing T households (n + o = T + B - 1)"
