"""One offset per underlying count: columns that count the same units publish one value.

The expected families are found from the **truth**, not from the code under test: every
pair of count columns equal in every area of the pilots (``calculo.agregado``) must show
the same published value in every listed row. The catalogue-derived families, the
containments used for row consistency and the structural zeros are then checked against
the truth too.
"""

from __future__ import annotations

import itertools

import numpy as np

from geoportal.catalog import default_catalog
from geoportal.disclosure import count_families
from tests.ataque import read


def _counts(url: str) -> list[str]:
    return read(url, "SELECT columna FROM publico.medida WHERE tipo = 'conteo' ORDER BY columna")["columna"].tolist()


def _frames(url: str):
    counts = _counts(url)
    names = ", ".join(f'"{c}"' for c in counts)
    true = read(url, f"SELECT nivel, codigo, {names} FROM calculo.agregado ORDER BY nivel, codigo")
    pub = read(url, f"SELECT nivel, codigo, {names} FROM publico.cobertura WHERE NOT reservado ORDER BY nivel, codigo")
    true = pub[["nivel", "codigo"]].merge(true, on=["nivel", "codigo"], how="left", validate="one_to_one")
    return counts, true, pub


def test_every_pair_of_columns_equal_on_the_truth_publishes_equal_values(pilotos):
    url = pilotos["url"]
    counts, _true, pub = _frames(url)
    everywhere = read(url, f"SELECT {', '.join(counts)} FROM calculo.agregado")
    values = {c: everywhere[c].to_numpy(np.int64) for c in counts}
    # Group columns by their whole truth vector (plain pandas/numpy, no engine code).
    groups: dict[bytes, list[str]] = {}
    for c in counts:
        groups.setdefault(values[c].tobytes(), []).append(c)
    pairs = [(a, b) for members in groups.values() for a, b in itertools.combinations(members, 2)]
    nonzero = [(a, b) for a, b in pairs if values[a].any()]
    print(f"\npairs equal on the truth in all {len(everywhere)} areas: {len(pairs)} ({len(nonzero)} not always 0)")
    assert len(nonzero) >= 30, "the catalogue has at least the households' and localities' families"
    different = [(a, b, int((pub[a] != pub[b]).sum())) for a, b in pairs if (pub[a] != pub[b]).any()]
    assert different == [], different[:10]
    # The families the issue named, explicitly.
    for family in (
        [
            "hogares",
            "l9_universo",
            "agua_aplica",
            "electricidad_aplica",
            "saneamiento_aplica",
            "vivienda_aplica",
            "tekopora_aplica",
        ],
        ["entornos", "l10_universo", "ent_escuela_aplica", "ent_usf_aplica", "ent_camino_aplica"],
        ["l1_protegidos", "l1_ampliado", "cpn_cubiertos"],
        ["personas", "inscripcion_nac_aplica", "usf_adscripcion_aplica"],
        ["l2_protegidos", "l2_ampliado"],
        ["l5_protegidos", "l5_ampliado"],
        ["l8_protegidos", "l8_ampliado"],
        ["l10_protegidos", "l10_ampliado"],
    ):
        assert _all_equal(pub[family]), family


def _all_equal(frame) -> bool:
    """Every row holds one value across the columns (nulls included: all null or none)."""
    values = frame.to_numpy(dtype=float)
    first = values[:, :1]
    same = (values == first) | (np.isnan(values) & np.isnan(first))
    return bool(same.all())


def test_catalogue_families_containments_and_zeros_hold_on_the_truth(pilotos):
    """What the engine derives from the catalogue, checked against the pilots' true counts."""
    url = pilotos["url"]
    counts = _counts(url)
    true = read(url, f"SELECT {', '.join(counts)} FROM calculo.agregado")
    fam = count_families(default_catalog(), [c for c in counts])
    for key in {fam.family[c] for c in counts}:
        members = fam.members(key)
        assert _all_equal(true[members]), members
    by_family: dict = {}
    for c in counts:
        by_family.setdefault(fam.family[c], []).append(c)
    members = lambda k: by_family.get(k, [])
    checked = 0
    for small, bigs in fam.supersets.items():
        for big in bigs:
            a, b = members(small), members(big)
            if a and b:
                assert (true[a[0]] <= true[b[0]]).all(), (a[0], b[0])
                checked += 1
    assert checked > 150
    for zero in fam.zeros:
        assert (true[members(zero)] == 0).all().all(), members(zero)
    for relation in fam.relations:
        total = sum(a * true[members(k)[0]].to_numpy(np.int64) for k, a in relation)
        assert (total >= 0).all(), relation


def test_structural_zeros_publish_zero(pilotos):
    """An investment service has no gap "with supply in reach"; a supply entorno neither."""
    counts, true, pub = _frames(pilotos["url"])
    for column in (
        "vivienda_con_oferta",
        "agua_con_oferta",
        "ent_camino_con_oferta",
        "ent_escuela_con_oferta",
        "ent_usf_con_oferta",
        "tekopora_sin_oferta",
        "pension_am_sin_oferta",
    ):
        assert (true[column] == 0).all(), column
        assert (pub[column] == 0).all(), column


def test_persons_far_from_a_point_type_nest_on_the_truth_and_in_every_published_row(pilotos):
    """Persons beyond 20 km of a type are among those beyond 10 km, who are among those beyond
    5 km, who are among all persons: true on the pilots, what the families say, and shown so."""
    url = pilotos["url"]
    counts, true, pub = _frames(url)
    far = [c for c in counts if c.startswith("lejos_")]
    tipos = sorted({c.removeprefix("lejos_").rsplit("_", 1)[0] for c in far})
    assert len(far) == 3 * len(tipos) and "usf" in tipos and "escuela" in tipos
    fam = count_families(default_catalog(), counts)
    for tipo in tipos:
        chain = ["personas"] + [f"lejos_{tipo}_{km}km" for km in (5, 10, 20)]
        for big, small in itertools.pairwise(chain):
            assert (true[small] <= true[big]).all() and (pub[small] <= pub[big]).all(), (small, big)
            assert fam.family[big] in fam.supersets[fam.family[small]], (small, big)
        assert true[chain[1]].sum() > 0, tipo
        assert (pub[chain[1:]] % 5 == 0).all().all()
