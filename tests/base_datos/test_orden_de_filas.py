"""The same data gives byte-identical public tables whatever the physical order of its rows.

After a dump and restore (or a load of the same file sorted differently) PostgreSQL may
hand rows back in another order; nothing published may depend on it.
"""

from __future__ import annotations

import pandas as pd
import psycopg
import pytest

from tests.conftest import FECHA_CORTE

DISTRICT = "1116"  # Villeta


def _load(make_database, folder, name: str, shuffle_seed: int | None) -> str:
    from geoportal.ingest import ingest_file
    from geoportal.pipeline import compute_all

    url = make_database(name)
    out = folder / name
    out.mkdir()
    for kind in ("puntos", "hogares", "personas"):
        frame = pd.read_csv(folder / f"{kind}.csv", dtype=str, keep_default_na=False)
        if kind == "hogares":
            frame = frame[frame["codigo_distrito"] == DISTRICT]
        if shuffle_seed is not None:
            frame = frame.sample(frac=1.0, random_state=shuffle_seed)
        frame.to_csv(out / f"{kind}.csv", index=False)
    keep = set(pd.read_csv(out / "hogares.csv", usecols=["hogar_id"], dtype=str)["hogar_id"])
    persons = pd.read_csv(out / "personas.csv", dtype=str, keep_default_na=False)
    persons[persons["hogar_id"].isin(keep)].to_csv(out / "personas.csv", index=False)
    with psycopg.connect(url) as conn:
        for kind in ("puntos", "hogares", "personas"):
            report = ingest_file(out / f"{kind}.csv", kind, conn, today=FECHA_CORTE)
            assert report.cuarentena == 0
        compute_all(conn, fecha_corte=FECHA_CORTE)
    return url


def _dump(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


@pytest.fixture(scope="module")
def two_loads(pilotos, make_database):
    folder = pilotos["folder"]
    return _load(make_database, folder, "orden_a", None), _load(make_database, folder, "orden_b", 11)


def test_public_coverage_is_identical_after_a_shuffled_load(two_loads):
    a, b = two_loads
    query = (
        "SELECT to_jsonb(c) - 'geom' - 'data_version', ST_AsBinary(geom) FROM publico.cobertura c"
        " ORDER BY nivel, codigo"
    )
    first, second = _dump(a, query), _dump(b, query)
    assert len(first) > 100
    assert first == second


def test_unprotected_aggregates_and_entorno_cells_are_identical_after_a_shuffled_load(two_loads):
    a, b = two_loads
    query = "SELECT to_jsonb(t) FROM calculo.agregado t ORDER BY nivel, codigo"
    assert _dump(a, query) == _dump(b, query)
    cells = "SELECT h3_8, entornos FROM calculo.contribucion WHERE entornos > 0 ORDER BY h3_8"
    assert _dump(a, cells) == _dump(b, cells)
