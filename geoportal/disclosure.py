"""Statistical disclosure control of every public number (one design, applied once).

Method (parameters in ``Settings``: ``umbral_hogares`` T = 10, ``base_redondeo`` B = 5):

1. **Threshold (primary suppression), randomised by the cell key.** An area (H3 cell,
   district, department) with fewer than T + u households is *reservado*, where u in
   0 .. B - 1 is drawn from the cell key of its households (``threshold_offset``, a fixed
   function of the record set, independent of the rounding in 3): fewer than T is always
   reserved, T .. T + B - 2 sometimes, never more. None of its counts is published
   (shown as "reservado"). A fixed threshold would let an attacker recover exact counts
   below T: an area that turns from reserved to published when one household is added
   had exactly T - 1; a reserved area known to hold fewer than T whose T - 1 listed
   reserved sub-cells each hold at least one household holds exactly T - 1 (one each).
   With the random threshold both only bound the count to T - 1 .. T + B - 2.
2. **Complementary suppression.** Within every published parent (H3 res 5 in the country,
   res r+1 cells in their res r parent, districts in their department, departments in the
   country), the reserved children must together hold at least T households and be at
   least two; otherwise the smallest published siblings are reserved too. So
   "parent minus published children" yields only a group of ≥ 2 areas and ≥ T households.
3. **Cell-key random rounding to base B.** Each record (household, person, entorno) has a
   permanent 24-bit key (keyed hash of its id). A published count n with key-sum k is
   rounded down to a multiple of B or up, up with probability (n mod B)/B decided by the
   cell key frac(k / 2^24): unbiased, and a fixed function of the *set of records*, so the
   same records give the same value in every tile, feature, CSV and version. Every
   published count is a multiple of B (0 stays 0), so any difference of published numbers
   is a multiple of B and never isolates a count below T exactly (the tests attack it).
4. **Shares** (percentages) only where the published denominator is at least T.

Everything public (tiles, GeoJSON, CSV, indicators) reads the stored protected table; no
output recomputes from nominal data per request. Tables no longer add up exactly, and say
so (``publico.version.notas``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoportal.aggregate import KEY_MOD


def cell_key_round(counts: np.ndarray, key_sums: np.ndarray, base: int) -> np.ndarray:
    """Round each count to a multiple of ``base``, up with probability (n mod base)/base."""
    counts = np.asarray(counts, dtype=np.int64)
    remainder = counts % base
    cell_key = (np.asarray(key_sums, dtype=np.int64) % KEY_MOD) / KEY_MOD
    up = cell_key < remainder / base
    return counts - remainder + np.where(up, base, 0)


def threshold_offset(key_sums: np.ndarray, spread: int) -> np.ndarray:
    """u in 0 .. spread - 1 per area, from its key-sum, decorrelated from ``cell_key_round``.

    The 24-bit key-sum is scrambled with a 64-bit multiplicative hash (Weyl/golden-ratio
    constant); its top 32 bits, scaled to ``spread``, are uniform and, jointly with the
    rounding's frac(k / 2^24), equidistributed.
    """
    keys = np.asarray(key_sums, dtype=np.int64) % KEY_MOD
    mixed = keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return ((mixed >> np.uint64(32)) * np.uint64(spread) >> np.uint64(32)).astype(np.int64)


def primary_suppression(hogares: np.ndarray, threshold: int, key_sums: np.ndarray | None = None,
                        spread: int = 1) -> np.ndarray:
    """Areas with fewer than ``threshold + u`` households, u from ``threshold_offset`` (0 without keys)."""
    hogares = np.asarray(hogares)
    if key_sums is None or spread <= 1:
        return hogares < threshold
    return hogares < threshold + threshold_offset(key_sums, spread)


def complementary_suppression(frame: pd.DataFrame, reserved: np.ndarray, threshold: int) -> np.ndarray:
    """Extend ``reserved`` so each parent's reserved children are ≥ 2 and hold ≥ threshold households.

    ``frame`` has columns nivel, codigo, padre, hogares (true counts); rows of one level
    that share a parent are siblings. Reserving more is never undone.
    """
    reserved = np.asarray(reserved, dtype=bool).copy()
    hogares = frame["hogares"].to_numpy(dtype=np.int64)
    group_of, _ = pd.factorize(pd.MultiIndex.from_arrays([frame["nivel"].astype(str), frame["padre"].fillna("").astype(str)]))
    order = np.lexsort((hogares, group_of))
    groups = group_of[order]
    bounds = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1], True])
    for start, end in zip(bounds[:-1], bounds[1:]):
        rows = order[start:end]  # siblings, smallest first
        hidden = reserved[rows]
        if not hidden.any() or hidden.all():
            continue
        while not reserved[rows].all():
            hidden_rows = rows[reserved[rows]]
            if len(hidden_rows) >= 2 and hogares[hidden_rows].sum() >= threshold:
                break
            visible = rows[~reserved[rows]]
            reserved[visible[0]] = True
    return reserved


def protect(agregado: pd.DataFrame, counts: list[str], threshold: int, base: int) -> pd.DataFrame:
    """Protected public values of every (nivel, codigo) row; reserved rows get NA counts.

    Returns columns nivel, codigo, padre, reservado, primaria, the rounded counts
    (nullable Int64) and, for each Logro and service, the published share in percent.
    """
    keys = agregado["k_hogares"].to_numpy() if "k_hogares" in agregado else None
    primary = primary_suppression(agregado["hogares"].to_numpy(), threshold, keys, spread=base)
    reserved = complementary_suppression(agregado, primary, threshold)
    head = agregado[["nivel", "codigo", "padre"]].reset_index(drop=True).assign(reservado=reserved, primaria=primary)
    rounded = cell_key_round(agregado[counts].to_numpy(np.int64), agregado[[f"k_{c}" for c in counts]].to_numpy(np.int64), base)
    rounded[reserved] = 0
    values = pd.DataFrame({name: pd.arrays.IntegerArray(rounded[:, j], reserved.copy()) for j, name in enumerate(counts)})
    return pd.concat([head, values], axis=1).set_axis(agregado.index)


def share(numerator: pd.Series, denominator: pd.Series, threshold: int) -> pd.Series:
    """Percentage with one decimal, only where the published denominator reaches the threshold."""
    num = numerator.astype("Float64")
    den = denominator.astype("Float64")
    pct = (100.0 * num / den).round(1)
    return pct.where(den >= threshold)


def information_loss(agregado: pd.DataFrame, protected: pd.DataFrame, counts: list[str]) -> pd.DataFrame:
    """Share of areas reserved and of counts changed, mean absolute change, by level and zone.

    Zone: an area is 'urbana' when most of its households are urban.
    """
    rows = []
    zone = np.where(agregado["hogares_urbanos"] * 2 >= agregado["hogares"], "urbana", "rural")
    truth = agregado[counts].to_numpy(dtype=float)
    shown = protected[counts].to_numpy(dtype=float, na_value=np.nan)
    for (level, z), idx in pd.Series(range(len(agregado))).groupby([agregado["nivel"].to_numpy(), zone]):
        idx = idx.to_numpy()
        res = protected["reservado"].to_numpy()[idx]
        visible = idx[~res]
        changed = shown[visible] != truth[visible]
        rows.append({
            "nivel": level, "zona": z, "areas": len(idx),
            "areas_reservadas_pct": round(100 * res.mean(), 2) if len(idx) else 0.0,
            "hogares_en_reservadas_pct": round(100 * agregado["hogares"].to_numpy()[idx][res].sum()
                                               / max(agregado["hogares"].to_numpy()[idx].sum(), 1), 2),
            "cifras_cambiadas_pct": round(100 * changed.mean(), 2) if changed.size else 0.0,
            "cambio_absoluto_medio": round(float(np.abs(shown[visible] - truth[visible]).mean()), 3) if changed.size else 0.0,
        })
    return pd.DataFrame(rows)
