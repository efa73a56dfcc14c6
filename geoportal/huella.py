"""Fingerprint of the nominal data behind the figures, one per 2022 district.

``data_version`` must change whenever a published figure can, and stay the same for the
same data however it was computed: a national computation, or one followed by district
updates, over the same rows gives the same version. So the fingerprint is kept per
district (``calculo.huella``): a national computation writes every district's, a district
update replaces its own. Each hashes the district's households, their persons and the
status event of each unit and service that counts (the newest, as the computation takes
it), column by column, and every other input at that moment (points, territory,
catalog, cut-off, ...: ``pipeline.computation_inputs``).

Each row's hash is computed by PostgreSQL in the very read of the computation (a
``huella`` column beside the row: ``Units.from_db(..., huellas=True)``; the services'
lists, few distinct ones, by ``with_services`` as they arrive), so the
fingerprint is that of the rows the figures come from, whatever is committed meanwhile;
the sums per district are exact (as PostgreSQL's sum of bigint) and order-free: any
changed, added or removed row changes them. With a cut-off, what the computation leaves
out (households interviewed and persons born after it, later events) is left out of the
fingerprint too: it changes no figure.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

# One 64-bit hash per row: each column hashed by type with its own seed, combined by XOR.
HOGAR = (
    "hashtextextended(h.hogar_id, 11) # hashtextextended(h.codigo_distrito, 12)"
    " # hashtextextended(coalesce(h.codigo_2012, ''), 13) # hashtextextended(h.localidad, 14)"
    " # hashtextextended(h.zona, 15) # hashint4extended(h.fecha_relevamiento - date '2000-01-01', 16)"
    " # hashfloat8extended(h.lon, 17) # hashfloat8extended(h.lat, 18) # hashint8extended(h.h3_8, 19)"
)
PERSONA = (
    "hashtextextended(p.persona_id, 1) # hashtextextended(p.hogar_id, 2) # hashbpcharextended(p.sexo, 3)"
    " # hashint4extended(p.fecha_nacimiento - date '2000-01-01', 4)"
    " # hashint4extended(p.embarazada::int + 2 * p.discapacidad::int + 4 * p.indigena::int, 5)"
)
# The services' lists are hashed here, as the computation reads them (';'-joined): few
# distinct lists among millions of rows, hashed once each (PostgreSQL hashed every array,
# the most expensive column of the read).
SERVICIOS_HOGAR, SERVICIOS_PERSONA = b"hogar", b"persona"


def with_services(row_hashes: pd.Series, servicios: pd.Series, seed: bytes) -> np.ndarray:
    """The rows' hashes combined (XOR) with a 64-bit BLAKE2b hash of their services' text."""
    codes, distinct = pd.factorize(servicios.fillna(""))
    hashed = np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(str(t).encode(), digest_size=8, key=seed).digest(), "little", signed=True)
            for t in distinct
        ),
        dtype=np.int64,
        count=len(distinct),
    )
    return row_hashes.to_numpy(np.int64) ^ hashed[codes]


EVENTO = (
    "hashtextextended(e.unidad, 21) # hashtextextended(e.unidad_id, 22) # hashtextextended(e.servicio, 23)"
    " # hashint4extended(e.cubierto::int, 24) # hashint4extended(e.fecha - date '2000-01-01', 25)"
    " # hashtextextended(e.fuente, 26)"
)


def _exact_sums(values: np.ndarray, group: np.ndarray, n: int) -> list[int]:
    """Exact sum of the int64 ``values`` of each group 0 .. n - 1 (as PostgreSQL's sum of
    bigint, a numeric): by 32-bit halves, each summed in int64 without overflow."""
    values = np.asarray(values, dtype=np.int64)
    group = np.asarray(group, dtype=np.int64)
    low = _int_sums(values & 0xFFFFFFFF, group, n)
    high = _int_sums(values >> 32, group, n)
    return [(int(h) << 32) + int(lo) for h, lo in zip(high.tolist(), low.tolist(), strict=True)]


def _int_sums(values: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    """Exact int64 sums by group (|values| < 2**32, fewer than 2**31 rows): each sum is
    split again in 16-bit parts so that bincount's float64 adds integers below 2**53."""
    total = np.zeros(n, dtype=np.int64)
    for shift in (0, 16):
        part = (values >> shift) & 0xFFFF if shift == 0 else values >> shift
        total += np.rint(np.bincount(group, weights=part, minlength=n)).astype(np.int64) << shift
    return total


def district_sums(units) -> dict[str, str]:
    """District -> the sums of its row hashes (households, their persons, the events that
    count), from the rows a computation read: ``units`` is a ``coverage.Units`` read with
    ``huellas=True`` (not imported: coverage imports this module for the hash expressions)."""
    hogares, personas, eventos = units.hogares, units.personas, units.eventos
    of_person = units.household_of_persons()
    kept = of_person >= 0
    ev = eventos[eventos["distrito_evento"].notna() & (eventos["distrito_evento"] != "")] if len(eventos) else eventos
    # Districts factorized once, on the households; each person takes its household's.
    of_household, names = pd.factorize(hogares["codigo_distrito"].astype(str), sort=False)
    ev_names = ev["distrito_evento"].astype(str).to_numpy() if len(ev) else np.empty(0, object)
    names = pd.Index(np.asarray(names, dtype=object)).append(pd.Index(ev_names, dtype=object)).unique()
    of_event = names.get_indexer(ev_names)
    n = len(names)
    h = _exact_sums(hogares["huella"].to_numpy(np.int64), of_household, n)
    p = _exact_sums(personas["huella"].to_numpy(np.int64)[kept], of_household[of_person[kept]], n)
    e = _exact_sums(ev["huella"].to_numpy(np.int64) if len(ev) else np.empty(0, np.int64), of_event, n)
    return {str(d): f"{h[i]}|{p[i]}|{e[i]}" for i, d in enumerate(names)}


def fingerprints(sums: dict[str, str], inputs: dict) -> dict[str, str]:
    """District -> SHA-256 of its row sums and of every other input of the computation."""
    context = json.dumps(inputs, sort_keys=True)
    return {d: hashlib.sha256(f"{d}|{s}|{context}".encode()).hexdigest() for d, s in sums.items()}
