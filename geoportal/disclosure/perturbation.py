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

Row consistency: only *components* are rounded; totals are sums of rounded components
(``Structure``), so within a row covered + gaps = applies, protected <= universe,
persons = the age groups (+ persons without an age group), and every share is <= 100 %.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

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


@dataclass
class Structure:
    """Totals as sums of parts (bottom-up order); hidden parts are derived from the truth."""

    sums: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def totals(self) -> set[str]:
        return {t for t, _ in self.sums}

    def hidden(self, counts: list[str]) -> list[str]:
        known = set(counts)
        return [p for _, parts in self.sums for p in parts if p not in known]

    def components(self, counts: list[str]) -> list[str]:
        """Every count that is rounded on its own (not a total), hidden parts included."""
        return [c for c in counts if c not in self.totals] + self.hidden(counts)


def row_structure(counts: list[str], age_groups: list[str]) -> Structure:
    """The identities a user checks within a row, from the count names of the catalog."""
    names = set(counts)
    st = Structure()
    logros = sorted({int(c[1:].split("_")[0]) for c in counts if c.startswith("l") and c.endswith("_universo")})
    for n in logros:
        st.sums.append((f"l{n}_protegidos", [f"l{n}_ampliado", f"_l{n}_solo_nucleo"]))
        st.sums.append((f"l{n}_universo", [f"l{n}_protegidos", f"_l{n}_sin_proteccion"]))
    for c in counts:
        if c.endswith("_aplica"):
            stem = c.removesuffix("_aplica")
            parts = [f"{stem}_cubiertos", f"{stem}_sin_oferta", f"{stem}_con_oferta"]
            if all(p in names for p in parts):
                st.sums.append((c, parts))
    if {"hogares", "hogares_urbanos"} <= names:
        st.sums.append(("hogares", ["hogares_urbanos", "_hogares_rurales"]))
    if "personas" in names and age_groups:
        st.sums.append(("personas", [*age_groups, "_personas_sin_grupo"]))
    return st


def truth_components(agregado: pd.DataFrame, st: Structure, counts: list[str]) -> pd.DataFrame:
    """True value of every component: hidden parts are total minus the other parts."""
    values = {c: agregado[c].to_numpy(np.int64) for c in counts}
    for total, parts in st.sums:
        hidden = [p for p in parts if p not in values]
        rest = sum(values[p] for p in parts if p in values)
        for p in hidden:  # one hidden part per identity by construction
            values[p] = values[total] - rest
            if (values[p] < 0).any():
                raise ValueError(f"identidad rota en los datos: {total} < suma de {parts}")
    return pd.DataFrame({c: values[c] for c in st.components(counts)}, index=agregado.index)


def perturb(agregado: pd.DataFrame, counts: list[str], st: Structure, keys: np.ndarray, base: int) -> pd.DataFrame:
    """Rounded components, and totals as their sums, for every count column."""
    truth = truth_components(agregado, st, counts)
    out = {c: round_with_offset(truth[c].to_numpy(), offsets(keys, c, base), base) for c in truth.columns}
    for total, parts in st.sums:
        out[total] = sum(out[p] for p in parts)
    return pd.DataFrame({c: out[c] for c in counts}, index=agregado.index)
