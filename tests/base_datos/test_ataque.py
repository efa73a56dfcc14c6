"""Attacks on the public release by an outsider who solves every published equation at once.

The solver (``tests/ataque.py``) propagates intervals to a fixed point over the H3 tree,
the territorial tree, district minus the hexagons inside it (both directions, crossing
cells split into unknown parts), unlisted remainders and row identities. Each test
asserts that no true count of 1 .. T - 1 is recovered exactly and that no reserved area
or group is left with fewer than B candidate household counts; the truth is read only
to check the attacker's model is sound and to judge.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import psycopg
import pytest

from tests import ataque
from tests.ataque import BASE, T, build_model, judge, read, solve, truth

CUT = date(2026, 1, 1)
COLUMNS = [
    "hogares",
    "personas",
    "l3_universo",
    "usf_adscripcion_cubiertos",
    "agua_cubiertos",
    "tekopora_cubiertos",
    "l1_universo",
    "l2_universo",
]


@pytest.fixture(scope="module")
def pilot_model(pilotos):
    url = pilotos["url"]
    model = build_model(url, COLUMNS + ["agua_aplica", "agua_sin_oferta", "agua_con_oferta"])
    return url, model, truth(url, model, COLUMNS + ["agua_aplica", "agua_sin_oferta", "agua_con_oferta"])


@pytest.mark.parametrize("column", COLUMNS)
def test_solving_all_published_equations_recovers_no_small_count(pilot_model, column):
    _url, model, true = pilot_model
    bounds = solve(model, [column])
    verdict = judge(model, true, bounds, column)
    kinds = model.entities["kind"].value_counts().to_dict()
    print(f"\n{column}: entities {kinds}, small true counts attacked {verdict.attacked}, pinned {verdict.pinned[:5]}")
    assert verdict.attacked > 50
    assert verdict.pinned == []
    assert verdict.narrow_reserved == [], verdict.narrow_reserved[:5]


def test_row_identities_joined_to_the_hierarchies_recover_no_small_gap(pilot_model):
    _url, model, true = pilot_model
    columns = ["agua_aplica", "agua_cubiertos", "agua_sin_oferta", "agua_con_oferta"]
    bounds = solve(model, columns, identities=[("agua_aplica", columns[1:])])
    for column in columns:
        verdict = judge(model, true, bounds, column)
        assert verdict.pinned == [], (column, verdict.pinned[:5])


def test_no_atom_of_a_hexagon_in_a_district_is_pinned(pilot_model):
    """Every hexagon part in one district (leaf x district) is an unknown the solver narrows."""
    _url, model, true = pilot_model
    lo, hi = solve(model, ["hogares"])["hogares"]
    atoms = (model.entities["kind"] == "atomo").to_numpy()
    t = true["hogares"].to_numpy()[atoms]
    small = (t >= 1) & (t < T)
    print(f"\natoms {atoms.sum()}, with 1..9 households {small.sum()}")
    assert small.sum() > 10
    assert (hi[atoms][small] > lo[atoms][small]).all()


def _inner_remainders(url: str) -> list[tuple[str, int]]:
    """(district, households not in any published hexagon wholly inside it), from the truth."""
    inner = read(
        url,
        """
        SELECT d.codigo AS distrito, c.nivel, c.codigo FROM publico.cobertura d
        JOIN publico.cobertura c ON c.nivel LIKE 'h3_%%' AND NOT c.reservado AND ST_Within(c.geom, d.geom)
        WHERE d.nivel = 'distrito' AND NOT d.reservado""",
    )
    import h3

    fine = read(url, "SELECT codigo_2012, h3_8, hogares FROM calculo.contribucion")
    published = {d: set(zip(g["nivel"], g["codigo"])) for d, g in inner.groupby("distrito")}
    districts = read(url, "SELECT codigo FROM publico.cobertura WHERE nivel = 'distrito' AND NOT reservado")["codigo"]
    out = []
    for d in districts:
        cells = published.get(d, set())
        rows = fine[fine["codigo_2012"] == d]
        covered = [
            any((f"h3_{r}", h3.cell_to_parent(h3.int_to_str(int(c)), r)) in cells for r in (5, 6, 7, 8))
            for c in rows["h3_8"]
        ]
        out.append((d, int(rows.loc[~np.array(covered, dtype=bool), "hogares"].sum()) if len(rows) else 0))
    return out


def test_district_minus_the_hexagons_inside_it_is_zero_or_at_least_the_threshold(pilotos, frontera):
    for url in (pilotos["url"], frontera[0]):
        remainders = _inner_remainders(url)
        print(f"\ndistrict remainders: {remainders}")
        assert remainders and all(r == 0 or r >= T for _, r in remainders), remainders


def test_a_reserved_parent_is_not_rebuilt_from_published_children(pilot_model):
    url, model, _true = pilot_model
    e = model.entities
    lo, hi = solve(model, ["hogares"])["hogares"]
    reserved = ((e["kind"] == "fila") & e["reservado"]).to_numpy()
    assert reserved.sum() > 0
    width = (hi - lo + 1)[reserved]
    print(f"\nreserved listed areas {reserved.sum()}; fewest candidates left {width.min():.0f}")
    assert (width >= BASE).all()
    # And no reserved listed area has all its households in published listed children.
    pub = read(url, "SELECT nivel, codigo, padre, reservado FROM publico.cobertura")
    kids = pub[pub["nivel"].str.startswith("h3_")].groupby("padre")["reservado"].agg(["size", "sum"])
    parents = pub[pub["reservado"] & pub["codigo"].isin(kids.index)]
    assert (kids.loc[parents["codigo"], "sum"] == kids.loc[parents["codigo"], "size"]).all()


def test_published_means_are_a_function_of_protected_counts_only(pilotos):
    """The old leak: mean = true sum / true count, so mean x count equations solved counts.

    Now every published mean is a class-midpoint mean of rounded class counts, so it
    takes only the values of the class grid's weighted averages with multiple-of-B
    weights — a res-8 cell with one class shows exactly that class's midpoint — and the
    attacker's equation parent mean x parent count = sum of children's does not hold.
    """
    url = pilotos["url"]
    pub = read(url, "SELECT nivel, codigo, hogares, dist_usf_km, acceso_usf FROM publico.cobertura WHERE NOT reservado")
    true = read(url, "SELECT nivel, codigo, hogares, dist_usf_km_suma FROM calculo.agregado")
    both = pub.merge(true, on=["nivel", "codigo"], suffixes=("", "_v"))
    true_mean = both["dist_usf_km_suma"] / both["hogares_v"]
    assert (both["dist_usf_km"].notna()).mean() > 0.9
    # Not the true mean (which is what leaked the true count) in most areas...
    assert (np.abs(both["dist_usf_km"] - true_mean.round(1)) > 0.05).mean() > 0.5
    # ...but close to it (the class grid: within a factor ~2).
    ratio = both["dist_usf_km"] / true_mean
    assert ratio[true_mean > 0.5].between(0.4, 2.5).mean() > 0.95
    # Many fine cells show a bare class midpoint: nothing about how many households.
    mids = {0.2, 0.8, 1.5, 3.5, 7.5, 15.0, 35.0, 75.0, 150.0, 0.3}
    fine = both[both["nivel"] == "h3_8"]
    assert fine["dist_usf_km"].round(1).isin(mids).mean() > 0.5


def test_within_each_row_the_published_figures_add_up(pilotos):
    url = pilotos["url"]
    services = read(url, "SELECT columna FROM publico.medida WHERE columna LIKE '%%_aplica'")["columna"]
    pub = read(url, "SELECT * FROM publico.cobertura WHERE NOT reservado").drop(columns="geom")
    for aplica in services:
        stem = aplica.removesuffix("_aplica")
        total = pub[f"{stem}_cubiertos"] + pub[f"{stem}_sin_oferta"] + pub[f"{stem}_con_oferta"]
        assert (total == pub[aplica]).all(), stem
        assert (pub[f"{stem}_cubiertos"] <= pub[aplica]).all()
        assert (pub[f"{stem}_pct"].dropna() <= 100).all()
    # Persons and the age groups are rounded apart (one offset each): the groups never
    # exceed the persons by more than the rounding of seven counts can explain.
    excess = pub[ataque.AGE_GROUPS].sum(axis=1) - pub["personas"]
    assert (excess <= ataque.NOISE * (len(ataque.AGE_GROUPS) + 1 - 1)).all(), excess.max()
    assert (excess.abs() <= 10).mean() > 0.9
    for n in range(1, 11):
        assert (pub[f"l{n}_ampliado"] <= pub[f"l{n}_protegidos"]).all()
        assert (pub[f"l{n}_protegidos"] <= pub[f"l{n}_universo"]).all()
        assert (pub[f"l{n}_pct"].dropna() <= 100).all()
    assert (pub["hogares_urbanos"] <= pub["hogares"]).all()
    shares = read(url, "SELECT columna FROM publico.medida WHERE tipo = 'porcentaje'")["columna"]
    assert (pub[shares].astype(float).max() <= 100).all()
    note = read(url, "SELECT notas FROM publico.version WHERE vigente")["notas"].item()
    assert "no suman exactamente" in note


# ----------------------------------------------------------------------------- a border, by hand
def _border_layout(url: str) -> dict:
    """Villeta and a neighbour: one res-8 cell across their border, one wholly inside each."""
    import h3
    import shapely

    with psycopg.connect(url) as conn:
        d1 = "1116"
        d2, code2, line = conn.execute(
            "SELECT n.codigo_2012, t.codigo, ST_AsText(ST_Intersection(ST_Boundary(v.geom), ST_Buffer(n.geom, 0.001))) AS line"
            " FROM territorio.distrito_cartografico v"
            " JOIN territorio.distrito_cartografico n ON ST_DWithin(v.geom, n.geom, 0.001) AND n.codigo_2012 <> v.codigo_2012"
            " JOIN territorio.distrito t ON t.codigo_2012 = n.codigo_2012"
            " WHERE v.codigo_2012 = %s AND (SELECT count(*) FROM territorio.distrito x WHERE x.codigo_2012 = n.codigo_2012) = 1"
            " ORDER BY ST_Length(ST_Intersection(ST_Boundary(v.geom), ST_Buffer(n.geom, 0.001))) DESC LIMIT 1",
            (d1,),
        ).fetchone()
        geometry = shapely.from_wkt(line)
        for fraction in np.linspace(0.2, 0.8, 25):
            point = shapely.line_interpolate_point(
                shapely.line_merge(geometry) if geometry.geom_type == "MultiLineString" else geometry,
                fraction,
                normalized=True,
            )
            if point.is_empty:
                continue
            cell = h3.latlng_to_cell(point.y, point.x, 8)
            hexagon = shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(cell)]).wkt
            parts = conn.execute(
                "SELECT d.codigo_2012, ST_Area(ST_Intersection(d.geom, ST_GeomFromText(%(h)s, 4326)))"
                " / ST_Area(ST_GeomFromText(%(h)s, 4326)),"
                " ST_X(ST_PointOnSurface(ST_Intersection(d.geom, ST_GeomFromText(%(h)s, 4326)))),"
                " ST_Y(ST_PointOnSurface(ST_Intersection(d.geom, ST_GeomFromText(%(h)s, 4326))))"
                " FROM territorio.distrito_cartografico d WHERE ST_Intersects(d.geom, ST_GeomFromText(%(h)s, 4326))",
                {"h": hexagon},
            ).fetchall()
            shares = {p[0]: p for p in parts}
            if set(shares) == {d1, d2} and all(0.25 < p[1] < 0.75 for p in parts):
                break
        else:
            raise AssertionError("no cell across the border")

        def inside(code: str) -> tuple[float, float]:
            """Centre of a res-8 cell wholly inside ``code``, 3+ cells away from the crossing cell."""
            ring = h3.grid_ring(cell, 3) + h3.grid_ring(cell, 4)
            for c in sorted(ring):
                hexagon = shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(c)]).wkt
                ok = conn.execute(
                    "SELECT ST_Within(ST_GeomFromText(%s, 4326), geom) FROM territorio.distrito_cartografico"
                    " WHERE codigo_2012 = %s",
                    (hexagon, code),
                ).fetchone()[0]
                if ok and h3.cell_to_parent(c, 7) != h3.cell_to_parent(cell, 7):
                    lat, lon = h3.cell_to_latlng(c)
                    return lon, lat
            raise AssertionError(f"no inner cell in {code}")

        return {
            "cell": cell,
            "d1": d1,
            "d2": d2,
            "code2": code2,
            "side1": shares[d1][2:],
            "side2": shares[d2][2:],
            "in1": inside(d1),
            "in2": inside(d2),
        }


@pytest.fixture(scope="module")
def frontera(make_database, pilotos, tmp_path_factory):
    """Villeta's pilot households of its two most populated res-6 cells, plus 25 of Villeta and 3 of its neighbour in one res-8 cell
    across their border, 40 more of Villeta and 12 of the neighbour in one cell wholly
    inside each district.

    The neighbour minus its inner cell is its 3 households of the crossing cell.
    """
    from tests.conftest import load_hand_fixture

    url = make_database("frontera")
    lay = _border_layout(url)
    hh, pp, points = ataque.villeta_subset(pilotos["folder"], res6_cells=2)
    households, persons = hh.values.tolist(), pp.values.tolist()
    from tests.conftest import HOUSEHOLD_COLUMNS, PERSON_COLUMNS, POINT_COLUMNS

    assert list(hh.columns) == HOUSEHOLD_COLUMNS and list(pp.columns) == PERSON_COLUMNS

    def add(prefix, code, where, n):
        for i in range(n):
            hid = f"{prefix}{i:03d}"
            dx, dy = 0.00012 * np.cos(i), 0.00012 * np.sin(i)
            households.append(
                [
                    hid,
                    code,
                    "Frontera",
                    "rural",
                    "2025-10-01",
                    round(where[1] + dy, 6),
                    round(where[0] + dx, 6),
                    "AGUA",
                    "sintetico",
                ]
            )
            persons.append(
                [f"{hid}-1", hid, "Nombre", "Apellido", "F", "1985-01-01", "no", "no", "no", "CEDULA", "sintetico"]
            )

    add("HA", "1116", lay["side1"], 25)
    add("HB", lay["code2"], lay["side2"], 3)
    add("HC", "1116", lay["in1"], 40)
    add("HD", lay["code2"], lay["in2"], 12)
    load_hand_fixture(
        url,
        tmp_path_factory.mktemp("frontera"),
        points=points[POINT_COLUMNS].values.tolist(),
        households=households,
        persons=persons,
        cut=CUT,
    )
    return url, lay


def test_a_border_cell_does_not_reveal_the_neighbours_three_households(frontera):
    url, lay = frontera
    model = build_model(url, ["hogares", "personas", "agua_cubiertos"])
    true = truth(url, model, ["hogares", "personas", "agua_cubiertos"])
    e = model.entities
    atoms = (e["kind"] == "atomo").to_numpy()
    crossing = atoms & (e["distrito"] == lay["d2"]).to_numpy() & (true["hogares"].to_numpy() == 3)
    assert crossing.sum() >= 1, "the neighbour's 3 households sit in a leaf the attacker sees across the border"
    for column in ["hogares", "personas", "agua_cubiertos"]:
        verdict = judge(model, true, solve(model, [column]), column)
        print(f"\n{column}: small counts attacked {verdict.attacked}, pinned {verdict.pinned}")
        assert verdict.pinned == [] and verdict.narrow_reserved == []
    lo, hi = solve(model, ["hogares"])["hogares"]
    assert (hi[crossing] - lo[crossing] + 1 >= BASE).all(), (lo[crossing], hi[crossing])


# ----------------------------------------------------------------------------- the catalogue's equations
def _all_counts(url: str) -> list[str]:
    return read(url, "SELECT columna FROM publico.medida WHERE tipo = 'conteo' ORDER BY columna")["columna"].tolist()


@pytest.fixture(scope="module")
def catalogue_attack(pilotos):
    """Every published count at once, every hierarchy, every row identity and every
    relation the catalogue implies (families, containment, age runs, Fréchet bounds)."""
    url = pilotos["url"]
    columns = _all_counts(url)
    model = build_model(url, columns)
    true = truth(url, model, columns)
    identities = [
        (c, [c.removesuffix("_aplica") + p for p in ("_cubiertos", "_sin_oferta", "_con_oferta")])
        for c in columns
        if c.endswith("_aplica")
    ]
    relations = ataque.catalogue_relations(columns)
    bounds = solve(model, columns, identities=identities, relations=relations)
    return model, true, bounds, columns, relations


def test_the_catalogues_equations_recover_no_small_count_and_narrow_no_published_one(catalogue_attack):
    model, true, bounds, columns, relations = catalogue_attack
    assert len(relations) > 300 and len(columns) > 100
    pinned, narrow_reserved, narrow = [], [], []
    attacked = 0
    for column in columns:
        verdict = judge(model, true, bounds, column)
        attacked += verdict.attacked
        pinned += [(column, *p) for p in verdict.pinned]
        narrow_reserved += verdict.narrow_reserved
        narrow += ataque.narrow_published(model, bounds, column)
    print(
        f"\n{len(columns)} columns, {len(relations)} relations, small true counts attacked {attacked}; "
        f"pinned {len(pinned)}, reserved narrowed {len(narrow_reserved)}, published narrowed {len(narrow)}"
    )
    assert attacked > 1000
    assert pinned == [], pinned[:10]
    assert narrow_reserved == [], narrow_reserved[:10]
    assert narrow == [], narrow[:10]
