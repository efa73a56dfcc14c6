"""Perturbation: rounding to base B with one secret offset per (area, family); parts derived.

A published count is ``B * floor((n + o) / B)`` where ``o`` in 0 .. B - 1 is a keyed hash
of (nivel, codigo, family): a fixed secret function of the *area and of what the count
counts* (``familias``), not of the records in it nor of the column's name. For every n
the offset is uniform, so the rounding is unbiased (E[p - n] = 0), a true multiple of B
is published unchanged (0 stays 0), and |p - n| <= B - 1.

**One offset per underlying count.** Columns that count the same units (``hogares``,
``l9_universo`` and every household service's ``aplica``, say) share one offset and
publish one value. With an offset per column they were several readings of one count
whose intervals intersected: seven household columns of one area showing 150 and 155
pinned its 151 households, and then its children's.

**Why not a function of the record set** (the ABS/ONS cell key): when records change, a
cell key draws a fresh perturbation, so n, n + 1, n + 2 ... published in successive
versions are independent noisy readings of the same count and their intervals intersect
to the truth (ten Tekoporã grants in one cell recovered 6 exactly). With a fixed offset
the published sequence is a deterministic staircase of n + o: consecutive releases
reveal at most where n + o crosses a multiple of B, that is n + o exactly, and since o
is secret and uniform over B values the attacker is left with B candidates for n,
whatever the number of releases. The threshold uses the same offset (``protect``), so
the release where an area appears tells n + o again and nothing more. An unchanged area
republishes the same value, and the same (area, family) gives the same value in every
tile, feature and download because it is stored once.

Row consistency: see ``perturb``.
"""

from __future__ import annotations

import hashlib
import numpy as np
import pandas as pd

from geoportal.aggregate import mix64, record_keys
from geoportal.disclosure.familias import Familias

ROUNDS = 8


def _repair(value: dict[str, np.ndarray], relation: tuple[tuple[str, int], ...], base: int) -> bool:
    """Move one count so that the relation sum(a * count) >= 0 narrows no count below B values.

    Each published count n_p hides a truth within B - 1. An attacker bounds term j by the
    relation: no bound is tighter than the term's own as long as the published residual
    R = sum(a * p) >= -(B - 1)(W - 2|a_j|), W = sum |a|. Where R falls short, the term with
    the largest |a| moves toward the relation as far as its truth provably allows (so its
    own interval still holds the truth), in multiples of B: what is left narrows any term
    by at most B - 1 values, never below B candidates.
    """
    noise = base - 1
    weights = [abs(a) for _, a in relation]
    width, top = sum(weights), max(weights)
    residual = sum(a * value[k] for k, a in relation)
    short = residual < -noise * (width - 2 * top)
    if not short.any():
        return False
    k, a = max(((k, a) for k, a in relation if abs(a) == top), key=lambda t: t[1] > 0)
    others = residual - a * value[k]
    # Truth bound of term k from the others: a * n_k >= -others - noise * (width - |a|).
    if a > 0:
        cap = -(-(-others - noise * (width - top)) // top) + noise  # ceil(bound / a) + B - 1
        moved = np.maximum(value[k], base * (cap // base))
    else:
        cap = (others + noise * (width - top)) // top - noise
        moved = np.minimum(value[k], -base * (-cap // base))
    moved = np.where(short, moved, value[k])
    if (moved == value[k]).all():
        return False
    value[k] = moved
    return True


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


def perturb(agregado: pd.DataFrame, counts: list[str], families: Familias, keys: np.ndarray, base: int) -> pd.DataFrame:
    """Rounded counts of every row: one value per family, made consistent within the row.

    Each family is rounded once (``round_with_offset``, the offset salted by the family's
    key) and structural zeros are 0. Then, until nothing moves:

    * every family is clipped to each of its supersets (protected <= universe, complete
      <= protected, covered <= applies, urban households <= households, 0-4 <= all
      persons, ...), supersets first;
    * a service's gap without supply is clipped to applies - covered;
    * the catalogue's other relations (age runs, Fréchet bounds; ``familias``) are
      repaired where an attacker could use them to narrow a count (``_repair``).

    Last, the remaining gap is the rest: applies - covered - the other gap (a structurally
    empty gap stays 0). Every column of a family then shows its family's value, so within
    a row covered + gaps = applies, protected <= universe, every share is <= 100 %. The
    age groups are rounded apart from the persons, so they need not add up to them.

    Error bounds (what ``tests/ataque.noise_bounds`` assumes): a family's value lies
    within B - 1 of its truth (clipped to a superset or moved by a repair it still does);
    the gap without supply within [n - (B - 1), n + 2(B - 1)]; the gap that is the rest
    within 3(B - 1), or 2(B - 1) when the other gap is a structural zero.
    """
    truth_of = {}
    for column in counts:
        truth_of.setdefault(families.family[column], column)
    value = {k: round_with_offset(agregado[c].to_numpy(np.int64), offsets(keys, k, base), base)
             for k, c in truth_of.items()}
    for k in families.zeros & value.keys():
        value[k] = np.zeros(len(agregado), dtype=np.int64)
    rests = [(a, c, s, n) for a, c, s, n in families.gaps if {a, c, s, n} <= value.keys()]
    relations = [r for r in families.relations if all(k in value for k, _ in r)]

    def lower(k: str, cap: np.ndarray) -> bool:
        smaller = cap < value[k]
        if smaller.any():
            value[k] = np.where(smaller, cap, value[k])
        return bool(smaller.any())

    def consistent() -> bool:
        changed = False
        for k in families.order:
            for big in families.supersets[k]:
                if big in value and k in value:
                    changed |= lower(k, value[big])
        for applies, covered, without, with_ in rests:
            if without not in families.zeros and with_ not in families.zeros:
                changed |= lower(without, value[applies] - value[covered])
        return changed

    for _ in range(ROUNDS):
        changed = consistent()
        changed |= any(_repair(value, relation, base) for relation in relations)
        if not changed:
            break
    consistent()  # whatever happened, rows end consistent
    for applies, covered, without, with_ in rests:
        left = value[applies] - value[covered]
        if without in families.zeros:
            value[with_] = left
        elif with_ in families.zeros:
            value[without] = left
        else:
            value[with_] = left - value[without]
    return pd.DataFrame({c: value[families.family[c]] for c in counts}, index=agregado.index)
