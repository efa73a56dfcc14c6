"""The release's own attacker: which published household counts an outsider narrows below B.

Before a release is written, ``narrowed`` runs interval propagation over every equation
the public table implies, as an outside attacker would (``tests/ataque.py``), and returns
the shown areas whose household count it confines to fewer than B candidate values.
``protect`` reserves them and protects again, to a fixed point.

The auditor knows **more** than any outsider, so what it passes, an outsider cannot
narrow further: its atoms (the part of a leaf hexagon inside one district) are only the
non-empty ones, read from the households, while an outsider, working from the geometry,
must also allow for every district a leaf touches.

Equations ("total = sum of parts", true before protection):

* H3 cell = its listed children + the unlisted remainder (res 6 and 7); res 5 = its res-6
  cells; country = its res-5 cells; department = its districts; country = departments;
* leaf (a listed res-8 cell, or an unlisted remainder) = its atoms; district = its atoms.

Priors, from the published design: a shown count p holds n in [p - (B - 1), p + B - 1]
and at least T; a listed reserved area at least one household; the unlisted remainder
of a published cell 0 or at least T (complementary suppression guarantees it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoportal.aggregate import pair_codes
from geoportal.disclosure.suppression import LISTED_ALWAYS, Tree, fine_positions

BIG = 1e12
MAX_ROUNDS = 400


def _equations(frame: pd.DataFrame, listed: np.ndarray, fine: pd.DataFrame, tree: Tree, positions: dict):
    """Entities (areas, then remainders, then atoms) and the (total, part) pairs."""
    n = len(frame)
    nivel = tree.nivel
    has_parent = tree.parent >= 0
    # Every listed area is a part of its parent, except res-7/8 cells (see remainders).
    remainder = np.full(n, -1)
    cells67 = np.flatnonzero(listed & np.isin(nivel, ("h3_6", "h3_7")))
    remainder[cells67] = n + np.arange(len(cells67))
    # kind of equation: 0 the H3 tree, 1 the territory, 2 atoms (the country is the total
    # of both its res-5 cells and its departments: two equations, one total).
    total, part, kind = [], [], []
    child = np.flatnonzero(listed & has_parent)
    total.append(tree.parent[child])
    part.append(child)
    kind.append(np.where(np.char.startswith(nivel[child].astype(str), "h3_"), 0, 1))
    # The remainder of a listed res-6/7 cell is a part of it.
    total.append(cells67)
    part.append(remainder[cells67])
    kind.append(np.zeros(len(cells67), int))
    # Leaves: each fine cell (res 8 x district) belongs to a listed res-8 cell, else to the
    # remainder of its nearest listed ancestor (res 7, else res 6: res-6 cells are listed).
    leaf = np.full(len(fine), -1)
    for res in (8, 7, 6):
        pos = positions[res]
        ok = (leaf < 0) & (pos >= 0)
        if res == 8:
            ok &= listed[np.maximum(pos, 0)]
            leaf[ok] = pos[ok]
        else:
            ok &= listed[np.maximum(pos, 0)]
            leaf[ok] = remainder[pos[ok]]
    district = positions["distrito"]
    keep = (fine["hogares"].to_numpy() > 0) & (leaf >= 0) & (district >= 0)
    atoms = np.unique(np.stack([leaf[keep], district[keep]], axis=1), axis=0)
    first_atom = n + len(cells67)
    atom_ids = first_atom + np.arange(len(atoms))
    total += [atoms[:, 0], atoms[:, 1]]
    part += [atom_ids, atom_ids]
    kind += [np.full(len(atoms), 2), np.full(len(atoms), 2)]
    total, part, kind = np.concatenate(total), np.concatenate(part), np.concatenate(kind)
    eq = pair_codes(total, kind)
    totals = np.zeros(eq.max() + 1, np.int64)
    totals[eq] = total
    return first_atom + len(atoms), remainder, cells67, totals, eq, part


def narrowed(
    frame: pd.DataFrame,
    shown: np.ndarray,
    reserved: np.ndarray,
    fine: pd.DataFrame,
    threshold: int,
    base: int,
    tree: Tree | None = None,
    positions: dict | None = None,
) -> np.ndarray:
    """Shown areas whose household count the equations confine to fewer than ``base`` values.

    ``shown``: the published household count of every row (ignored where ``reserved``);
    ``tree`` and ``positions`` (``fine_positions``), when given, are ``frame``'s and ``fine``'s.
    """
    tree = tree or Tree(frame)
    positions = positions or fine_positions(frame, fine)
    hogares = frame["hogares"].to_numpy(np.int64)
    listed = (hogares > 0) & (~reserved | np.isin(tree.nivel, sorted(LISTED_ALWAYS)))
    size, remainder, cells67, totals, eq, parts = _equations(frame, listed, fine, tree, positions)
    n = len(frame)
    noise = base - 1
    lo = np.zeros(size)
    hi = np.full(size, BIG)
    visible = listed & ~reserved
    p = np.asarray(shown, dtype=float)
    lo[:n] = np.where(visible, np.maximum(p - noise, threshold), np.where(listed, 1, 0))
    hi[:n] = np.where(visible, p + noise, np.where(listed, BIG, 0))
    guarded = remainder[cells67[visible[cells67]]]  # remainders of published cells: 0 or >= T
    # The auditor assumes the attacker knows which remainders hold households (a subset
    # count, water covered say, can tell it): those start at T; atoms at one.
    child = np.flatnonzero(listed & (tree.parent >= 0) & np.isin(tree.nivel, ("h3_7", "h3_8")))
    held = hogares.astype(float) - np.bincount(tree.parent[child], hogares[child], minlength=n)
    lo[remainder[cells67]] = np.where(held[cells67] > 0, np.where(visible[cells67], threshold, 1), 0)
    lo[n + len(cells67) :] = 1
    for _ in range(MAX_ROUNDS):
        before_lo, before_hi = lo.copy(), hi.copy()
        s_lo = np.bincount(eq, lo[parts], minlength=len(totals))
        s_hi = np.bincount(eq, hi[parts], minlength=len(totals))
        np.maximum.at(lo, totals, s_lo)
        np.minimum.at(hi, totals, s_hi)
        np.maximum.at(lo, parts, lo[totals][eq] - (s_hi[eq] - hi[parts]))
        np.minimum.at(hi, parts, hi[totals][eq] - (s_lo[eq] - lo[parts]))
        lo, hi = np.ceil(lo - 1e-9), np.minimum(np.floor(hi + 1e-9), BIG)
        hi[guarded] = np.where(hi[guarded] < threshold, 0, hi[guarded])
        lo[guarded] = np.where(lo[guarded] > 0, np.maximum(lo[guarded], threshold), lo[guarded])
        if (lo == before_lo).all() and (hi == before_hi).all():
            break
    if (lo > hi).any():  # the equations are true on the truth: this is a bug, not an attack
        raise RuntimeError("la auditoría de divulgación encontró ecuaciones contradictorias")
    return visible & (hi[:n] - lo[:n] + 1 < base)
