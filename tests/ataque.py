"""The outside attacker: interval propagation over every equation the public store implies.

The attacker reads only ``publico.*`` (and the public territory): every listed row, its
geometry, and the published design (``geoportal.disclosure``). Unknowns:

* the true value of every listed row (nivel, codigo);
* the **unlisted remainder** of every listed res-6 and res-7 cell: households (or any
  count) in its reserved, unlisted children; by design 0 or at least T households;
* the **atoms** (leaf, district): a leaf is a listed res-8 cell or an unlisted remainder,
  and an atom is its part inside one district polygon it touches (crossing cells split).

Equations (all "total = sum of parts", true before protection):

* H3 parent = listed children (+ its unlisted remainder), res 5 = its res-6 children,
  country = its res-5 cells; department = its districts, country = its departments;
* leaf = its atoms; district = the atoms of the leaves that touch it
  (district minus the hexagons inside it, both directions, crossing cells included);
* optionally row identities across columns (applies = covered + both gaps).

Priors come from the published design: a published count p hides a true value within
the noise bound of its column, a published area holds at least T households, a listed
reserved area at least one. ``solve`` narrows every interval to a fixed point; the
truth (``calculo``) is used only to check the attacker's model is sound and to judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import psycopg

from geoportal.catalog import default_catalog
from geoportal.disclosure import Familias, count_families

T = 10
BASE = 5
NOISE = BASE - 1
BIG = 1e9
AGE_GROUPS = [f"l{n}_universo" for n in range(3, 9)]


@lru_cache
def design() -> Familias:
    """The published design the attacker knows: the catalogue's count families (public)."""
    return count_families(default_catalog())


def noise_bounds(column: str) -> tuple[int, int]:
    """(below, above): the truth lies in [p - below, p + above] for a published p (design)."""
    fam = design()
    k = fam.family.get(column)
    if k in fam.zeros:
        return 0, 0
    for _, _, without, with_ in fam.gaps:
        if k == without:
            return (2 * NOISE, 2 * NOISE) if with_ in fam.zeros else (NOISE, 2 * NOISE)
        if k == with_:
            return (2 * NOISE, 2 * NOISE) if without in fam.zeros else (3 * NOISE, 3 * NOISE)
    return NOISE, NOISE


def catalogue_relations(columns: list[str]) -> list[tuple[tuple[str, int], ...]]:
    """Every linear inequality sum(a * column) >= 0 the catalogue implies among ``columns``.

    Same-count families (equal both ways), containment (a subset never exceeds its
    superset: covered <= applies, protected <= universe, 0-4 <= all persons, protected <=
    each of its services' covered, ...), runs of age counts (persons >= the age groups,
    cédula = Logros 4-8, seguro social + pensión = Logros 6-8, ...) and Fréchet bounds
    of the concurrency Logros. Truth-checked in ``tests/test_familias.py``.
    """
    fam = design()
    present: dict[str, list[str]] = {}
    for c in columns:
        if c in fam.family:
            present.setdefault(fam.family[c], []).append(c)
    out = []
    for members in present.values():
        out += [((a, 1), (b, -1)) for a in members for b in members if a != b]
    for small, bigs in fam.supersets.items():
        for big in bigs:
            if small in present and big in present:
                out.append(((present[big][0], 1), (present[small][0], -1)))
    for relation in fam.relations:
        if all(k in present for k, _ in relation):
            out.append(tuple((present[k][0], a) for k, a in relation))
    return out


def read(url: str, query: str, params=()) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def history(url: str) -> pd.DataFrame:
    """The public release history (``publico.cifra_historia``: every release's published shares,
    readable by the public role), one row per release × area × column, oldest release first."""
    return read(
        url,
        "SELECT h.data_version, h.fecha, h.nivel, h.codigo, h.columna, h.valor FROM publico.cifra_historia h"
        " JOIN publico.version v USING (data_version) ORDER BY v.calculado_en, h.nivel, h.codigo, h.columna",
    )


def interval_from_shares(shares: np.ndarray, denominator: float, column: str) -> tuple[float, float]:
    """The attacker's interval for n_0 when n_t = n_0 + t, from a share series alone.

    Each share has one decimal over a known published denominator D, so the published count
    lies in [(s - 0.05) D / 100, (s + 0.05) D / 100]; the design's noise bounds widen that to
    the truth at release t, minus the t known events."""
    below, above = noise_bounds(column)
    t = np.arange(len(shares))
    p_lo = np.ceil((shares - 0.05) * denominator / 100 - 1e-9)
    p_hi = np.floor((shares + 0.05) * denominator / 100 + 1e-9)
    return max(0.0, (p_lo - below - t).max()), (p_hi + above - t).min()


@dataclass
class Model:
    """Entities (rows, remainders, atoms) and their sum equations, for one release."""

    entities: pd.DataFrame  # kind (fila, resto, atomo), nivel, codigo, distrito, reservado, published values
    equations: list[tuple[int, list[int]]]
    remainders: np.ndarray  # entity positions of the unlisted remainders of published parents


def build_model(url: str, columns: list[str], tolerance_deg: float = 0.025) -> Model:
    """Everything the attacker derives from publico.cobertura (with geometry)."""
    names = ", ".join(f'"{c}"' for c in columns)
    pub = read(url, f"SELECT nivel, codigo, padre, reservado, {names} FROM publico.cobertura ORDER BY nivel, codigo")
    for c in columns:
        pub[c] = pub[c].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    rows = pub.copy().assign(kind="fila", distrito=None)
    position = {(n, c): i for i, (n, c) in enumerate(zip(rows["nivel"], rows["codigo"]))}
    children: dict[int, list[int]] = {}
    parent_level = {
        "h3_8": "h3_7",
        "h3_7": "h3_6",
        "h3_6": "h3_5",
        "h3_5": "pais",
        "distrito": "departamento",
        "departamento": "pais",
    }
    for i, (nivel, padre) in enumerate(zip(rows["nivel"], rows["padre"])):
        if nivel in parent_level:
            p = position.get((parent_level[nivel], padre))
            assert p is not None, f"{nivel} {rows['codigo'][i]}: its parent is not listed"
            children.setdefault((p, nivel.startswith("h3_")), []).append(i)
    entities = [rows]
    n = len(rows)
    equations: list[tuple[int, list[int]]] = []
    remainder_of: dict[int, int] = {}
    extra = []
    for (p, is_h3), kids in children.items():
        if is_h3 and rows["nivel"][p] in ("h3_6", "h3_7"):
            remainder_of[p] = n + len(extra)
            extra.append({"kind": "resto", "nivel": rows["nivel"][p], "codigo": rows["codigo"][p], "reservado": True})
            kids = kids + [remainder_of[p]]
        equations.append((p, kids))
    for level in ("h3_6", "h3_7"):  # listed cells whose children are all unlisted
        for i in np.flatnonzero((rows["nivel"] == level).to_numpy()):
            if i not in remainder_of:
                remainder_of[i] = n + len(extra)
                extra.append({"kind": "resto", "nivel": level, "codigo": rows["codigo"][i], "reservado": True})
                equations.append((i, [remainder_of[i]]))
    # Leaves and the districts each one may touch (geometry, with the ingest tolerance).
    touch = read(
        url,
        """
        SELECT h.nivel, h.codigo, d.codigo AS distrito
        FROM publico.cobertura h JOIN publico.cobertura d
          ON d.nivel = 'distrito' AND ST_DWithin(h.geom, d.geom, %s)
        WHERE h.nivel IN ('h3_6', 'h3_7', 'h3_8')""",
        (tolerance_deg,),
    )
    district_pos = {c: position[("distrito", c)] for c in rows.loc[rows["nivel"] == "distrito", "codigo"]}
    leaves = {("h3_8", c): position[("h3_8", c)] for c in rows.loc[rows["nivel"] == "h3_8", "codigo"]}
    leaves.update({(rows["nivel"][p], rows["codigo"][p]): r for p, r in remainder_of.items()})
    by_district: dict[str, list[int]] = {}
    atom_rows = []
    base = n + len(extra)
    for (nivel, codigo), group in touch.groupby(["nivel", "codigo"]):
        leaf = leaves.get((nivel, codigo))
        if leaf is None:
            continue
        atoms = []
        for d in group["distrito"]:
            atoms.append(base + len(atom_rows))
            atom_rows.append({"kind": "atomo", "nivel": nivel, "codigo": codigo, "distrito": d, "reservado": True})
            by_district.setdefault(d, []).append(atoms[-1])
        equations.append((leaf, atoms))
    for d, atoms in by_district.items():
        equations.append((district_pos[d], atoms))
    entities = pd.concat([rows, pd.DataFrame(extra), pd.DataFrame(atom_rows)], ignore_index=True)
    # Only the remainder of a published parent is a reserved group "0 or at least T".
    guarded = [r for p, r in remainder_of.items() if not rows["reservado"][p]]
    return Model(entities, equations, np.array(sorted(guarded), dtype=np.int64))


def priors(model: Model, column: str) -> tuple[np.ndarray, np.ndarray]:
    e = model.entities
    p = e[column].to_numpy(dtype=float) if column in e else np.full(len(e), np.nan)
    listed = (e["kind"] == "fila").to_numpy()
    shown = listed & ~np.isnan(p)
    below, above = noise_bounds(column)
    floor_shown = T if column in ("hogares", "personas") else 0
    lo = np.where(shown, np.maximum(p - below, floor_shown), 0.0)
    hi = np.where(shown, p + above, BIG)
    if column == "hogares":
        lo = np.where(listed & ~shown, 1.0, lo)  # a listed reserved area holds a household
    return np.nan_to_num(lo), np.nan_to_num(hi, nan=BIG)


def solve(
    model: Model,
    columns: list[str],
    identities: list[tuple[str, list[str]]] = (),
    max_rounds: int = 400,
    relations: list[tuple[tuple[str, int], ...]] = (),
    priors_of=None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Interval propagation to a fixed point over all equations, jointly for ``columns``.

    ``identities``: row identities total = sum of parts; ``relations``: row inequalities
    sum(a * column) >= 0 (``catalogue_relations``); ``priors_of(column)``: (lo, hi) of
    each entity instead of ``priors`` (an attacker who knows more, across releases).
    """
    E, K = len(model.entities), len(columns)
    start = [(priors_of or (lambda c: priors(model, c)))(c) for c in columns]
    lo = np.concatenate([np.asarray(p[0], dtype=float) for p in start])
    hi = np.concatenate([np.asarray(p[1], dtype=float) for p in start])
    totals, part_var, part_eq = [], [], []
    for k in range(K):
        for total, parts in model.equations:
            part_var += [k * E + p for p in parts]
            part_eq += [len(totals)] * len(parts)
            totals.append(k * E + total)
    index = {c: k for k, c in enumerate(columns)}
    for total, parts in identities:
        for e in range(E):
            part_var += [index[p] * E + e for p in parts]
            part_eq += [len(totals)] * len(parts)
            totals.append(index[total] * E + e)
    totals, part_var, part_eq = map(np.asarray, (totals, part_var, part_eq))
    hogares = index.get("hogares")
    for _ in range(max_rounds):
        before_lo, before_hi = lo.copy(), hi.copy()
        s_lo = np.bincount(part_eq, lo[part_var], minlength=len(totals))
        s_hi = np.bincount(part_eq, hi[part_var], minlength=len(totals))
        np.maximum.at(lo, totals, s_lo)
        np.minimum.at(hi, totals, s_hi)
        np.maximum.at(lo, part_var, lo[totals][part_eq] - (s_hi[part_eq] - hi[part_var]))
        np.minimum.at(hi, part_var, hi[totals][part_eq] - (s_lo[part_eq] - lo[part_var]))
        for relation in relations:
            terms = [(index[c] * E, a) for c, a in relation]
            top = [a * (hi[o : o + E] if a > 0 else lo[o : o + E]) for o, a in terms]
            most = sum(top)
            for (o, a), t in zip(terms, top):
                rest = most - t
                if a > 0:
                    lo[o : o + E] = np.maximum(lo[o : o + E], -rest / a)
                else:
                    hi[o : o + E] = np.minimum(hi[o : o + E], rest / -a)
        lo, hi = np.ceil(lo - 1e-9), np.floor(hi + 1e-9)
        hi = np.minimum(hi, BIG)
        if hogares is not None:  # an unlisted remainder holds 0 or at least T households
            r = hogares * E + model.remainders
            hi[r] = np.where(hi[r] < T, 0, hi[r])
            lo[r] = np.where(lo[r] > 0, np.maximum(lo[r], T), lo[r])
        broken = np.flatnonzero(lo > hi)
        assert not broken.size, (
            "the published equations contradict the attacker's model at",
            [(columns[i // E], *model.entities.iloc[i % E][["kind", "nivel", "codigo"]]) for i in broken[:5]],
        )
        if (lo == before_lo).all() and (hi == before_hi).all():
            break
    return {c: (lo[k * E : (k + 1) * E], hi[k * E : (k + 1) * E]) for k, c in enumerate(columns)}


def truth(url: str, model: Model, columns: list[str], strict: bool = True) -> pd.DataFrame:
    """True value of every entity (read from calculo only to judge the attack).

    ``strict``: every household lies in an atom the attacker sees (a district without a
    polygon, D0222 in the national data, has none: its atoms are left out with ``False``)."""
    names = ", ".join(f'"{c}"' for c in columns)
    agg = read(url, f"SELECT nivel, codigo, {names} FROM calculo.agregado").set_index(["nivel", "codigo"])
    fine = read(url, f"SELECT codigo_2012, h3_8, {names} FROM calculo.contribucion")
    import h3

    e = model.entities
    listed = set(zip(e.loc[e["kind"] == "fila", "nivel"], e.loc[e["kind"] == "fila", "codigo"]))
    leaf_level, leaf_code = [], []
    for cell in fine["h3_8"].astype(np.int64):
        c8 = h3.int_to_str(int(cell))
        c7 = h3.cell_to_parent(c8, 7)
        if ("h3_8", c8) in listed:
            leaf_level.append("h3_8"), leaf_code.append(c8)
        elif ("h3_7", c7) in listed:
            leaf_level.append("h3_7"), leaf_code.append(c7)
        else:
            leaf_level.append("h3_6"), leaf_code.append(h3.cell_to_parent(c8, 6))
    fine = fine.assign(nivel=leaf_level, codigo=leaf_code)
    atoms = fine.groupby(["nivel", "codigo", "codigo_2012"])[columns].sum()
    rest = fine[fine["nivel"].ne("h3_8")].groupby(["nivel", "codigo"])[columns].sum()
    out = np.zeros((len(e), len(columns)))
    for i, row in enumerate(e.itertuples()):
        if row.kind == "fila":
            out[i] = agg.loc[(row.nivel, row.codigo), columns].to_numpy()
        elif row.kind == "resto":
            out[i] = (
                rest.loc[(row.nivel, row.codigo), columns].to_numpy() if (row.nivel, row.codigo) in rest.index else 0
            )
        else:
            key = (row.nivel, row.codigo, row.distrito)
            out[i] = atoms.loc[key, columns].to_numpy() if key in atoms.index else 0
    covered = set(
        zip(
            e.loc[e["kind"] == "atomo", "nivel"],
            e.loc[e["kind"] == "atomo", "codigo"],
            e.loc[e["kind"] == "atomo", "distrito"],
        )
    )
    missing = [k for k in atoms.index if k not in covered and atoms.loc[k, columns].to_numpy().any()]
    assert not (strict and missing), f"households where the attacker's geometry sees none: {missing[:5]}"
    return pd.DataFrame(out, columns=columns)


@dataclass
class Verdict:
    attacked: int  # entities with a true count in 1 .. T - 1
    pinned: list  # those recovered exactly
    narrow_reserved: list  # reserved areas/groups left with fewer than B candidate household counts


def judge(model: Model, true: pd.DataFrame, bounds: dict, column: str) -> Verdict:
    lo, hi = bounds[column]
    t = true[column].to_numpy()
    unsound = (t < lo) | (t > hi)
    e = model.entities
    assert not unsound.any(), (
        f"{column}: the attacker's model is unsound: "
        f"{e.loc[unsound, ['kind', 'nivel', 'codigo', 'reservado']].assign(t=t[unsound], lo=lo[unsound], hi=hi[unsound]).head(8)}"
    )
    small = (t >= 1) & (t < T)
    pinned = small & (lo == hi)
    narrow = np.zeros(len(e), bool)
    if column == "hogares":
        # Reserved listed areas, and the unlisted remainders of reserved parents. (The
        # remainder of a published parent holds at least T households by design: the
        # attacker may narrow it as they narrow a published count, never below T.)
        remainder_of_published = np.zeros(len(e), bool)
        remainder_of_published[model.remainders] = True
        reserved = (
            e["reservado"].to_numpy(dtype=bool) & (e["kind"] != "atomo").to_numpy() & ~remainder_of_published & (t > 0)
        )
        narrow = reserved & (hi - lo + 1 < BASE)
        assert (t[remainder_of_published] == 0).sum() + (
            t[remainder_of_published] >= T
        ).sum() == remainder_of_published.sum()
    what = ["kind", "nivel", "codigo", "distrito"]
    return Verdict(
        int(small.sum()),
        e.loc[pinned, what].assign(verdadero=t[pinned]).values.tolist(),
        e.loc[narrow, what].assign(verdadero=t[narrow], min=lo[narrow], max=hi[narrow]).values.tolist(),
    )


def narrow_published(model: Model, bounds: dict, column: str) -> list:
    """Published counts of listed rows left with fewer than B candidates (a structural zero aside)."""
    if design().family.get(column) in design().zeros:
        return []
    lo, hi = bounds[column]
    e = model.entities
    shown = (e["kind"] == "fila").to_numpy() & ~np.isnan(e[column].to_numpy(dtype=float))
    narrow = shown & (hi - lo + 1 < BASE)
    return e.loc[narrow, ["nivel", "codigo"]].assign(columna=column, min=lo[narrow], max=hi[narrow]).values.tolist()


def villeta_subset(folder, res6_cells: int = 2):
    """Villeta's pilot households (and persons) of its ``res6_cells`` most populated res-6 cells."""
    import h3

    hh = pd.read_csv(folder / "hogares.csv", dtype=str, keep_default_na=False)
    hh = hh[hh["codigo_distrito"] == "1116"]
    cell6 = [h3.latlng_to_cell(float(a), float(o), 6) for a, o in zip(hh["lat"], hh["lon"])]
    keep = pd.Series(cell6).value_counts().sort_index().sort_values(ascending=False, kind="stable").index[:res6_cells]
    # the hand fixtures' columns (the address reference, optional, plays no part in disclosure)
    hh = hh[np.isin(cell6, keep)].drop(columns=["referencia"], errors="ignore")
    pp = pd.read_csv(folder / "personas.csv", dtype=str, keep_default_na=False)
    pp = pp[pp["hogar_id"].isin(hh["hogar_id"])]
    points = pd.read_csv(folder / "puntos.csv", dtype=str, keep_default_na=False)
    return hh, pp, points
