"""Which areas are reserved: primary threshold, then coordinated complementary suppression.

Rules, applied to a fixed point (reserving more is never undone):

* **primary**: fewer than T + u households, u in 0 .. B - 1 a secret function of the area;
* **downward**: a reserved area's H3 children, a reserved department's districts, and
  every area whose households all lie inside a reserved area of the other hierarchy, are
  reserved — so a reserved parent is never rebuilt from published children;
* **siblings**: within each parent (country → res 5 → … → res 8; country → department →
  district) the reserved children hold at least T households together (and are at least
  two where children are listed), else the smallest published siblings are reserved;
* **district minus hexagons**: for every published district and department, the
  households not inside any published H3 cell lying wholly inside it (crossing cells,
  reserved cells) are 0 or at least T — else the smallest such inside cell is reserved;
* **hexagon minus districts**: for every published H3 cell, the households not in a
  published district (or department) lying wholly inside it are 0 or at least T — else
  the cheaper of the cell and the smallest such district is reserved.

"Lying wholly inside" is decided on the households (every household of one area belongs
to the other), which covers whatever an attacker can establish from the geometry.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoportal.aggregate import PARENT_LEVEL, h3_code, pair_codes, parent_cells

H3_RES = (5, 6, 7, 8)
TERRITORY = ("distrito", "departamento")
LISTED_ALWAYS = {"pais", "departamento", "distrito", "h3_5", "h3_6"}  # reserved rows stay listed


class _Rows:
    """Row of each (level, code) in ``frame`` (unique by nivel and codigo), -1 when absent:
    looked up level by level (a MultiIndex of the pairs materialises tuples), each level's
    codes hashed once however many lookups."""

    def __init__(self, frame: pd.DataFrame):
        self.nivel = frame["nivel"].astype(str).to_numpy(dtype=object)
        self.codigo = frame["codigo"].astype(str).to_numpy(dtype=object)
        self._levels: dict[str, tuple[np.ndarray, pd.Index]] = {}

    def at_level(self, level: str, codes) -> np.ndarray:
        if level not in self._levels:
            rows = np.flatnonzero(self.nivel == level)
            self._levels[level] = (rows, pd.Index(self.codigo[rows]))
        rows, index = self._levels[level]
        codes = np.asarray(codes, dtype=object).astype(str).astype(object)
        if not len(rows):
            return np.full(len(codes), -1, dtype=np.int64)
        found = index.get_indexer(codes)
        return np.where(found >= 0, rows[np.maximum(found, 0)], -1)

    def of(self, levels, codes) -> np.ndarray:
        levels, codes = np.asarray(levels, dtype=object), np.asarray(codes, dtype=object)
        out = np.full(len(levels), -1, dtype=np.int64)
        for level in pd.unique(levels):
            wanted = levels == level
            out[wanted] = self.at_level(level, codes[wanted])
        return out


class Tree:
    """Parent position of every row (-1 when the parent row is absent)."""

    def __init__(self, frame: pd.DataFrame):
        self.nivel = frame["nivel"].astype(str).to_numpy()
        parent_level = pd.Series(self.nivel).map(PARENT_LEVEL).fillna("").to_numpy(dtype=object)
        self.parent = _Rows(frame).of(parent_level, frame["padre"].fillna("").to_numpy(dtype=object))
        self.group = pair_codes(
            pd.factorize(frame["nivel"].astype(str))[0], pd.factorize(frame["padre"].fillna("").astype(str))[0]
        )


def downward(reserved: np.ndarray, tree: Tree) -> None:
    for level in ("h3_5", "h3_6", "h3_7", "h3_8", "departamento", "distrito"):
        rows = np.flatnonzero((tree.nivel == level) & (tree.parent >= 0))
        reserved[rows] |= reserved[tree.parent[rows]]


def siblings(reserved: np.ndarray, hogares: np.ndarray, tree: Tree, threshold: int) -> None:
    """Reserved children of each parent: >= threshold households and (listed levels) >= 2 areas."""
    g = tree.group
    n_groups = g.max() + 1 if len(g) else 0
    occupied = hogares > 0  # a cell holding only a locality's point is not listed: it does not count
    res_n = np.bincount(g, reserved & occupied, minlength=n_groups)
    res_h = np.bincount(g, np.where(reserved, hogares, 0), minlength=n_groups)
    size = np.bincount(g, occupied, minlength=n_groups)
    listed = pd.Series(tree.nivel).isin(LISTED_ALWAYS).to_numpy()
    min_areas = np.bincount(g, listed, minlength=n_groups) > 0  # group of a listed level
    bad = (res_n > 0) & (res_n < size) & ((res_h < threshold) | (min_areas & (res_n < 2)))
    order = np.lexsort((hogares, g))  # by group, smallest first
    starts = np.searchsorted(g[order], np.arange(n_groups + 1))
    for group in np.flatnonzero(bad):
        rows = order[starts[group] : starts[group + 1]]
        need_two = listed[rows[0]]
        while not reserved[rows].all():
            hidden = rows[reserved[rows] & occupied[rows]]
            if hogares[hidden].sum() >= threshold and (len(hidden) >= 2 or not need_two):
                break
            reserved[rows[~reserved[rows]][0]] = True


def fine_positions(frame: pd.DataFrame, fine: pd.DataFrame) -> dict:
    """Row in ``frame`` of each fine cell's district, department and res-5..8 cell (-1 when absent)."""
    cells8 = fine["h3_8"].to_numpy(np.int64)
    rows = _Rows(frame)
    pos = {
        "distrito": rows.at_level("distrito", fine["codigo_2012"].astype(str)),
        "departamento": rows.at_level("departamento", fine["dpto"].astype(str)),
    }
    for res in H3_RES:
        uniques, inverse = np.unique(parent_cells(cells8, res), return_inverse=True)
        codes = np.array([h3_code(c) for c in uniques.tolist()], dtype=object)
        pos[res] = rows.at_level(f"h3_{res}", codes)[inverse]
    return pos


class Cross:
    """Containment between the H3 tree and the territory, computed on the fine cells."""

    def __init__(self, frame: pd.DataFrame, fine: pd.DataFrame, positions: dict | None = None):
        self.hh = fine["hogares"].to_numpy(np.int64)
        n_areas = len(frame)
        self.n = frame["hogares"].to_numpy(np.int64)
        self.pos = positions or fine_positions(frame, fine)
        if any((p < 0).any() for p in self.pos.values()):
            raise ValueError("celdas finas sin su área agregada")
        # cell_in[L][r][i]: fine row i's res-r cell has all its households in i's territory L;
        # terr_in[L][r][i]: i's territory L has all its households in i's res-r cell.
        self.cell_in, self.terr_in = {}, {}
        for level in TERRITORY:
            self.cell_in[level], self.terr_in[level] = {}, {}
            for res in H3_RES:
                pair = pair_codes(self.pos[level], self.pos[res])
                pair_h = np.bincount(pair, self.hh)[pair]
                self.cell_in[level][res] = pair_h == self.n[self.pos[res]]
                self.terr_in[level][res] = pair_h == self.n[self.pos[level]]
        self.size = n_areas

    def downward(self, reserved: np.ndarray) -> None:
        for level in TERRITORY:
            t = self.pos[level]
            for res in H3_RES:
                c = self.pos[res]
                inside = self.cell_in[level][res]
                reserved[c[inside & reserved[t]]] = True
                inside = self.terr_in[level][res]
                reserved[t[inside & reserved[c]]] = True

    def territory_minus_cells(self, reserved: np.ndarray, threshold: int) -> None:
        for level in TERRITORY:
            t = self.pos[level]
            covered = np.zeros(len(t), bool)
            top = np.full(len(t), -1)
            for res in (8, 7, 6, 5):  # the coarsest published inside cell wins
                ok = self.cell_in[level][res] & ~reserved[self.pos[res]]
                covered |= ok
                top = np.where(ok, self.pos[res], top)
            rest = np.bincount(t, np.where(covered, 0, self.hh), minlength=self.size)
            bad = ~reserved & (rest > 0) & (rest < threshold)
            rows = np.flatnonzero(covered & bad[t])
            if rows.size:
                pick = pd.DataFrame({"area": t[rows], "cell": top[rows], "n": self.n[top[rows]]})
                chosen = pick.sort_values(["n", "cell"]).drop_duplicates("area")["cell"].to_numpy()
                reserved[chosen] = True

    def cell_minus_territories(self, reserved: np.ndarray, threshold: int) -> None:
        for res in H3_RES:
            c = self.pos[res]
            covered = np.zeros(len(c), bool)
            cover = np.full(len(c), -1)
            for level in ("departamento", "distrito"):  # the finer published inside territory wins
                ok = self.terr_in[level][res] & ~reserved[self.pos[level]]
                covered |= ok
                cover = np.where(ok, self.pos[level], cover)
            rest = np.bincount(c, np.where(covered, 0, self.hh), minlength=self.size)
            bad = ~reserved & (rest > 0) & (rest < threshold)
            rows = np.flatnonzero(covered & bad[c])
            if rows.size:
                pick = pd.DataFrame({"cell": c[rows], "terr": cover[rows], "n": self.n[cover[rows]]})
                smallest = pick.sort_values(["n", "terr"]).drop_duplicates("cell")
                cheaper_cell = self.n[smallest["cell"].to_numpy()] <= smallest["n"].to_numpy()
                reserved[smallest["cell"].to_numpy()[cheaper_cell]] = True
                reserved[smallest["terr"].to_numpy()[~cheaper_cell]] = True


def reserve(
    frame: pd.DataFrame,
    primary: np.ndarray,
    threshold: int,
    fine: pd.DataFrame | None = None,
    max_rounds: int = 200,
    tree: Tree | None = None,
    cross: Cross | None = None,
) -> np.ndarray:
    """All reserved rows: ``primary`` extended by the rules above to a fixed point.

    Without ``fine`` (the live table's local re-protection) only the rules within each
    hierarchy apply. ``tree`` and ``cross``, when given, are ``frame``'s and ``fine``'s
    (built once by a caller that reserves several times).
    """
    reserved = np.asarray(primary, dtype=bool).copy()
    hogares = frame["hogares"].to_numpy(np.int64)
    tree = tree or Tree(frame)
    if cross is None and fine is not None and len(fine):
        cross = Cross(frame, fine)
    for _ in range(max_rounds):
        before = reserved.copy()
        downward(reserved, tree)
        if cross:
            cross.downward(reserved)
        siblings(reserved, hogares, tree, threshold)
        if cross:
            cross.territory_minus_cells(reserved, threshold)
            cross.cell_minus_territories(reserved, threshold)
        if (reserved == before).all():
            return reserved
    raise RuntimeError("la supresión complementaria no converge")
