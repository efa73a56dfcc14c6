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
from scipy import sparse

from geoportal.aggregate import PARENT_LEVEL, mix64, record_keys
from geoportal.disclosure.familias import Familias

ROUNDS = 8
SMALL_BLOCK = 2_000_000  # values: below it a rule works on whole rows at once (a copy this size is cheap)


def _repair(matrix: np.ndarray, rows, columns: np.ndarray, coefs: np.ndarray, base: int) -> np.ndarray:
    """Move one count so that the relation sum(a * count) >= 0 narrows no count below B values.

    Each published count n_p hides a truth within B - 1. An attacker bounds term j by the
    relation: no bound is tighter than the term's own as long as the published residual
    R = sum(a * p) >= -(B - 1)(W - 2|a_j|), W = sum |a|. Where R falls short, the term with
    the largest |a| moves toward the relation as far as its truth provably allows (so its
    own interval still holds the truth), in multiples of B: what is left narrows any term
    by at most B - 1 values, never below B candidates.

    Only ``rows`` (a slice or row numbers) are looked at; returns the row numbers moved.
    """
    noise = base - 1
    width, top = int(np.abs(coefs).sum()), int(np.abs(coefs).max())
    block = matrix[rows][:, columns]
    residual = block @ coefs
    short = residual < -noise * (width - 2 * top)
    if not short.any():
        return _NONE
    # The term with the largest |a|, a positive one if any (raise the total, not a part).
    j = max(np.flatnonzero(np.abs(coefs) == top), key=lambda i: coefs[i] > 0)
    k, a = columns[j], int(coefs[j])
    current = block[short, j]
    others = residual[short] - a * current
    # Truth bound of term k from the others: a * n_k >= -others - noise * (width - |a|).
    if a > 0:
        cap = -(-(-others - noise * (width - top)) // top) + noise  # ceil(bound / a) + B - 1
        moved = np.maximum(current, base * (cap // base))
    else:
        cap = (others + noise * (width - top)) // top - noise
        moved = np.minimum(current, -base * (-cap // base))
    change = moved != current
    at = _row_numbers(rows, len(matrix))[short][change]
    matrix[at, k] = moved[change]
    return at


_NONE = np.empty(0, dtype=np.int64)


def _row_numbers(rows, n: int) -> np.ndarray:
    return np.arange(n)[rows] if isinstance(rows, slice) else rows


class _Changes:
    """When each row last changed, so that a rule revisits only the rows changed since it last ran.

    Every rule below is a function of some rows' values (its own row; a row and its
    parent; a parent and its children). Where none of those changed since the rule last
    ran, the rule found them at rest then (had it moved them, they would carry a newer
    stamp) and would find them at rest again: skipping them changes nothing, so the
    result is the one of running every rule over every row, in a fraction of the time.
    """

    def __init__(self, n: int) -> None:
        self.stamp = np.ones(n, dtype=np.int64)
        self.clock = 1
        self.seen: dict[object, int] = {}

    def start(self, rule) -> int:
        """Begin a run of ``rule``: rows stamped after the returned value are to be visited."""
        last = self.seen.get(rule, 0)
        self.clock += 1
        self.seen[rule] = self.clock - 1
        return last

    def rows(self, last: int):
        """Rows changed since ``last``: a slice of all of them when that is every row."""
        changed = self.stamp > last
        return slice(None) if changed.all() else np.flatnonzero(changed)

    def touch(self, rows) -> None:
        self.stamp[rows] = self.clock


def area_keys(nivel: pd.Series, codigo: pd.Series, secret: str) -> np.ndarray:
    """Secret 24-bit key of each area (nivel, codigo), as uint64."""
    ids = nivel.astype(str).str.cat(codigo.astype(str), sep="|")
    return record_keys(ids.reset_index(drop=True), secret + "|area").astype(np.uint64)


LEVELS_DOWN = ("departamento", "distrito", "h3_5", "h3_6", "h3_7", "h3_8")


def parent_rows(agregado: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per level, top-down: (rows at that level, the row of each one's parent area)."""
    nivel = agregado["nivel"].astype(str).to_numpy(dtype=object)
    padre = agregado["padre"].astype(str).to_numpy(dtype=object)
    row_of = {(n, c): i for i, (n, c) in enumerate(zip(nivel, agregado["codigo"].astype(str)))}
    out = {}
    for level in LEVELS_DOWN:
        rows = np.flatnonzero(nivel == level)
        parents = np.array([row_of.get((PARENT_LEVEL[level], p), -1) for p in padre[rows]], dtype=np.int64)
        out[level] = (rows[parents >= 0], parents[parents >= 0])
    return out


def _as_slice(rows: np.ndarray) -> np.ndarray | slice:
    """``rows`` as a slice when they are one increasing run (indexing then gives a view)."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows) and (np.diff(rows) == 1).all():
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def shared_keys(
    agregado: pd.DataFrame, secret: str, tree: dict[str, tuple[np.ndarray, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Secret key of each row per unit type, shared by areas that hold the same units.

    A parent whose only child with households is one area holds exactly that child's
    households and persons (H3 cells nest exactly; a department with one surveyed
    district is that district): both get the parent's key, so their counts share offsets
    and publish one value instead of two readings of one count. Entornos likewise, by
    the children holding entornos. Decided top-down over ``tree`` (``parent_rows``) from
    the rows alone (the incremental update has every ancestor's sibling group at hand).
    """
    n = len(agregado)
    nivel, codigo = agregado["nivel"].astype(str), agregado["codigo"].astype(str)
    out = {}
    for unit, column in (("hogar", "hogares"), ("entorno", "entornos")):
        populated = agregado[column].to_numpy() > 0 if column in agregado else np.zeros(n, bool)
        canon = np.arange(n)  # the row whose key each row uses
        for rows, parents in tree.values():
            kids = populated[rows]
            only = kids & (np.bincount(parents[kids], minlength=n)[parents] == 1)
            canon[rows[only]] = canon[parents[only]]
        out[unit] = area_keys(
            nivel.iloc[canon].reset_index(drop=True), codigo.iloc[canon].reset_index(drop=True), secret
        )
    out["persona"] = out["hogar"]  # persons live in households
    return out


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


def _families_below(
    tree: dict, shown: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per level, the shown parents with shown children: (parents, their shown children,
    each child's parent's position, shown-children count, every child shown)."""
    n, out = len(shown), []
    for rows, parents in tree.values():
        kids, of = rows[shown[rows]], parents[shown[rows]]
        count = np.bincount(of, minlength=n)
        whole = np.bincount(parents, minlength=n) == count
        at = np.flatnonzero(shown & (count > 0))
        if len(at):
            out.append((at, kids, of, count[at], whole[at]))
    return out


def _repair_tree(matrix: np.ndarray, below: list, changes: _Changes, base: int, columns: np.ndarray) -> bool:
    """The same repair (``_repair``) for parent >= its shown children, and parent <= them
    where every child is shown: only the parent moves, within what its truth allows.
    ``matrix``: one row per area, one column per family, changed in place; only
    ``columns`` (counts within B - 1 of their truth: not the gaps, which are parts);
    ``below``: ``_families_below``. Visits the parents changed, or with a child changed,
    since its last run."""
    noise, changed = base - 1, False
    last = changes.start("arbol")
    for at, kids, of, count, whole in below:
        visit = changes.stamp[at] > last
        moved_kid = changes.stamp[kids] > last
        if moved_kid.any():
            visit |= np.isin(at, of[moved_kid])
        if not visit.any():
            continue
        at, count, whole = at[visit], count[visit], whole[visit]
        mine = np.isin(of, at)
        position = np.searchsorted(at, of[mine])
        total = _sum_rows(len(at), position, matrix[kids[mine]][:, columns])
        slack = (noise * (count - 1))[:, None]  # (B - 1)(W - 2), W = children + 1
        v = matrix[at][:, columns]
        up = v - total < -slack
        down = whole[:, None] & (total - v < -slack)
        if up.any() or down.any():
            moved = np.where(up, np.maximum(v, base * ((total - slack) // base)), v)
            moved = np.where(down, np.minimum(moved, -base * (-(total + slack) // base)), moved)
            rows = (moved != v).any(axis=1)
            if rows.any():
                matrix[np.ix_(at[rows], columns)] = moved[rows]
                changes.touch(at[rows])
                changed = True
    return changed


def _sum_rows(n: int, position: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Row i of the result: the sum of ``values``' rows at ``position`` i (a sparse product)."""
    pick = sparse.csr_matrix(
        (np.ones(len(position), dtype=np.int64), (position, np.arange(len(position)))), shape=(n, len(position))
    )
    return np.asarray(pick @ values)


def perturb(
    agregado: pd.DataFrame,
    counts: list[str],
    families: Familias,
    keys: dict[str, np.ndarray],
    base: int,
    reserved: np.ndarray | None = None,
    tree: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> np.ndarray:
    """Rounded counts of every row: one value per family, made consistent within the row.

    Each family is rounded once (``round_with_offset``, the offset salted by the family's
    key, the area's key that of its unit type: ``shared_keys``) and structural zeros are
    0. Then, until nothing moves:

    * every family is clipped to each of its supersets (protected <= universe, complete
      <= protected, covered <= applies, urban households <= households, 0-4 <= all
      persons, ...), supersets first, and every area to the area holding it (a hexagon
      never shows more than its parent, a district than its department), and a parent
      against the sum of its shown children the same way (``_repair_tree``);
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

    def unit(k: str) -> str:
        return families.sets[k].unidad if families.sets.get(k) is not None else "hogar"

    # One column per family (contiguous: the within-row rules work on columns, the tree on rows).
    matrix = np.empty((len(agregado), len(truth_of)), dtype=np.int64, order="F")
    value = {}
    for j, (k, c) in enumerate(truth_of.items()):
        matrix[:, j] = round_with_offset(agregado[c].to_numpy(np.int64), offsets(keys[unit(k)], k, base), base)
        value[k] = matrix[:, j]  # a view: writes go to the matrix
    for k in families.zeros & value.keys():
        value[k][:] = 0
    rests = [(a, c, s, n) for a, c, s, n in families.gaps if {a, c, s, n} <= value.keys()]
    column = {k: j for j, k in enumerate(truth_of)}
    relations = [
        (np.array([column[k] for k, _ in r]), np.array([a for _, a in r], dtype=np.int64))
        for r in families.relations
        if all(k in value for k, _ in r)
    ]
    bounded = [
        (column[k], np.array([column[b] for b in families.supersets[k] if b in column]))
        for k in families.order
        if k in column
    ]
    bounded = [(j, sup) for j, sup in bounded if len(sup)]
    # Published counts within B - 1 of their truth (not the gaps, which are parts of a row,
    # nor the class counts behind the means, which are not published).
    whole_counts = np.array(
        [j for k, j in column.items() if families.sets.get(k) is not None and families.sets[k].brecha is None]
    )

    tree = parent_rows(agregado) if tree is None else tree
    shown = np.ones(len(agregado), bool) if reserved is None else ~np.asarray(reserved, dtype=bool)

    changes = _Changes(len(agregado))
    levels = [(_as_slice(rows), parents) for rows, parents in tree.values()]
    clipped = [
        (column[a], column[c], column[w]) for a, c, w, n in rests if w not in families.zeros and n not in families.zeros
    ]

    def under_parents() -> bool:
        """An area never shows more than the area holding it (top-down: a lowered parent lowers its children)."""
        last, changed = changes.start("padre"), False
        for rows, parents in levels:
            visit = (changes.stamp[rows] > last) | (changes.stamp[parents] > last)
            if not visit.any():
                continue
            if visit.all():
                at, above = rows, parents
            else:
                at, above = _row_numbers(rows, len(matrix))[visit], parents[visit]
            numbers = _row_numbers(at, len(matrix))
            if len(numbers) * matrix.shape[1] <= SMALL_BLOCK:  # a district update's family: all columns at once
                block, cap = matrix[numbers], matrix[above]
                lower = (cap < block).any(axis=1)
                if lower.any():
                    matrix[numbers[lower]] = np.minimum(block[lower], cap[lower])
                    changes.touch(numbers[lower])
                    changed = True
                continue
            lower = np.zeros(len(numbers), bool)
            for j in range(matrix.shape[1]):  # column by column (contiguous): no copy of the parents' rows
                values = matrix[:, j]
                cap = values[above]
                less = cap < values[at]
                if less.any():
                    lower |= less
                    values[numbers[less]] = cap[less]
            if lower.any():
                changes.touch(numbers[lower])
                changed = True
        return changed

    def within_rows() -> bool:
        """Each family at most each of its supersets (supersets first), each gap without supply
        at most applies - covered."""
        rows = changes.rows(changes.start("fila"))
        block = np.asfortranarray(matrix[rows])  # columns contiguous (a view when every row)
        if not len(block):
            return False
        before = block.copy(order="F")
        for j, supersets in bounded:
            for s in supersets:  # column by column: no gathered copy of the supersets
                np.minimum(block[:, j], block[:, s], out=block[:, j])
        for applies, covered, without in clipped:
            np.minimum(block[:, without], block[:, applies] - block[:, covered], out=block[:, without])
        moved = (block != before).any(axis=1)
        if not moved.any():
            return False
        where = _row_numbers(rows, len(matrix))[moved]
        matrix[where] = block[moved]
        changes.touch(where)
        return True

    def consistent() -> bool:
        changed = under_parents()
        return within_rows() | changed

    def repaired() -> bool:
        """The relations in order, up to the first that moves a count (the rest wait for the next round)."""
        for r, (columns, coefs) in enumerate(relations):
            moved = _repair(matrix, changes.rows(changes.start(("relacion", r))), columns, coefs, base)
            if len(moved):
                changes.touch(moved)
                return True
        return False

    below = _families_below(tree, shown)
    for _ in range(ROUNDS):
        changed = consistent()
        changed |= repaired()
        changed |= _repair_tree(matrix, below, changes, base, whole_counts)
        if not changed:
            break
    while consistent():  # whatever happened, rows end consistent (this only lowers values)
        pass
    for applies, covered, without, with_ in rests:
        left = value[applies] - value[covered]
        if without in families.zeros:
            value[with_][:] = left
        elif with_ in families.zeros:
            value[without][:] = left
        else:
            value[with_][:] = left - value[without]
    out = np.empty((len(agregado), len(counts)), dtype=np.int64)
    for j, c in enumerate(counts):
        out[:, j] = value[families.family[c]]
    return out
