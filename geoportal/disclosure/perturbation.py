"""Perturbation: rounding to base B with a secret offset per (area, measure); totals derived.

A published count is ``B * floor((n + o) / B)`` where ``o`` in 0 .. B - 1 is a keyed hash
of (nivel, codigo, measure) — a fixed secret function of the *area and measure*, not of
the records in it. For every n the offset is uniform, so the rounding is unbiased
(E[p - n] = 0), a true multiple of B is published unchanged (0 stays 0), and
|p - n| <= B - 1.

Why not a function of the record set (the ABS/ONS cell key): when records change, a
cell key draws a fresh perturbation, so n, n + 1, n + 2 ... published in successive
versions are independent noisy readings of the same count and their intervals intersect
to the truth (ten Tekoporã grants in one cell recovered 6 exactly). With a fixed offset
the published sequence is a deterministic staircase of n + o: consecutive releases
reveal at most where n + o crosses a multiple of B, that is n + o exactly, and since o
is secret and uniform over B values the attacker is left with B candidates for n,
whatever the number of releases. An unchanged area republishes the same value (the
stability the cell key gives), and the same (area, measure) gives the same value in
every tile, feature and download because it is stored once.

Row consistency (``perturb``): parts are clipped to their rounded totals and the last
part is the rest, persons are the sum of the rounded age groups, so within a row
covered + gaps = applies, protected <= universe, persons = the age groups (+ persons
without an age group), and every share is <= 100 %.
"""

from __future__ import annotations

import hashlib
import numpy as np
import pandas as pd

from geoportal.aggregate import mix64, record_keys

THRESHOLD_SALT = "__umbral__"


def area_keys(nivel: pd.Series, codigo: pd.Series, secret: str) -> np.ndarray:
    """Secret 24-bit key of each area (nivel, codigo), as uint64."""
    ids = nivel.astype(str).str.cat(codigo.astype(str), sep="|")
    return record_keys(ids.reset_index(drop=True), secret + "|area").astype(np.uint64)


def offsets(keys: np.ndarray, measure: str, spread: int) -> np.ndarray:
    """Offset in 0 .. spread - 1 of each area for ``measure``: uniform, independent across measures."""
    salt = np.uint64(int.from_bytes(hashlib.blake2b(measure.encode(), digest_size=8).digest(), "little"))
    with np.errstate(over="ignore"):
        mixed = mix64(np.asarray(keys, dtype=np.uint64) ^ salt)
    return ((mixed >> np.uint64(32)) * np.uint64(spread) >> np.uint64(32)).astype(np.int64)


def round_with_offset(counts: np.ndarray, offset: np.ndarray, base: int) -> np.ndarray:
    """B * floor((n + o) / B): deterministic given the secret offset, unbiased over it."""
    counts = np.asarray(counts, dtype=np.int64)
    return base * ((counts + np.asarray(offset, dtype=np.int64)) // base)


def perturb(agregado: pd.DataFrame, counts: list[str], age_groups: list[str], keys: np.ndarray, base: int) -> pd.DataFrame:
    """Rounded counts of every row, made consistent within the row.

    Every count is rounded on its own (``round_with_offset``); then, top-down, each part is
    clipped to what its total leaves: protected <= universe, complete <= protected,
    urban households <= households, covered <= applies, gap without supply <= applies -
    covered, and the gap with supply is the rest. Persons are the sum of the rounded age
    groups plus the rounded persons without an age group. Clipping keeps every value a
    multiple of B and within B - 1 of the truth, except the derived gap (within 3(B - 1))
    and persons (within (B - 1) x (age groups + 1)).
    """
    def rounded(name: str, truth: np.ndarray) -> np.ndarray:
        return round_with_offset(truth, offsets(keys, name, base), base)

    out = {c: rounded(c, agregado[c].to_numpy(np.int64)) for c in counts}
    names = set(counts)
    logros = sorted({int(c[1:].split("_")[0]) for c in counts if c.startswith("l") and c.endswith("_universo")})
    for n in logros:
        out[f"l{n}_protegidos"] = np.minimum(out[f"l{n}_protegidos"], out[f"l{n}_universo"])
        out[f"l{n}_ampliado"] = np.minimum(out[f"l{n}_ampliado"], out[f"l{n}_protegidos"])
    for c in counts:
        stem = c.removesuffix("_aplica")
        if c.endswith("_aplica") and {f"{stem}_cubiertos", f"{stem}_sin_oferta", f"{stem}_con_oferta"} <= names:
            covered = np.minimum(out[f"{stem}_cubiertos"], out[c])
            without = np.minimum(out[f"{stem}_sin_oferta"], out[c] - covered)
            out[f"{stem}_cubiertos"], out[f"{stem}_sin_oferta"] = covered, without
            out[f"{stem}_con_oferta"] = out[c] - covered - without
    if {"hogares", "hogares_urbanos"} <= names:
        out["hogares_urbanos"] = np.minimum(out["hogares_urbanos"], out["hogares"])
    if "personas" in names and age_groups:
        rest = agregado["personas"].to_numpy(np.int64) - sum(agregado[g].to_numpy(np.int64) for g in age_groups)
        if (rest < 0).any():
            raise ValueError("los grupos de edad suman más personas que las relevadas")
        out["personas"] = sum(out[g] for g in age_groups) + rounded("_personas_sin_grupo", rest)
    return pd.DataFrame({c: out[c] for c in counts}, index=agregado.index)
