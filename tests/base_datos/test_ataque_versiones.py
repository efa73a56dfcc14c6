"""Attacks across public releases, by an attacker who knows the events between them.

Scenarios on Villeta (the pilot households of its most populated res-6 cell, real points):

* **ten events in one cell**: ten successive Tekoporã grants to households of one res-8
  cell, each published as its own release (the worst case: batching is switched off by
  forcing every release). The attacker knows n_t = n_0 + t and intersects the intervals
  of every area that holds the cell;
* **one event and the loss table**: one contrarreferencia, before and after;
* **release metadata**: what publico.version and the rows say about who changed.
"""

from __future__ import annotations

import itertools
from datetime import date

import numpy as np
import pandas as pd
import psycopg
import pytest

from geoportal.actualizacion import compute_district
from geoportal.pipeline import compute_all
from geoportal.publicacion import publish
from geoportal.settings import Settings
from tests.ataque import BASE, T, noise_bounds, read, villeta_subset

CUT = date(2026, 1, 1)


def public(url: str) -> pd.DataFrame:
    frame = read(url, "SELECT * FROM publico.cobertura ORDER BY nivel, codigo").drop(columns="geom")
    return frame.set_index(["nivel", "codigo"])


def add_event(url: str, hogar: str, servicio: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
            " VALUES ('hogar', %s, %s, true, %s, 'registro administrativo (prueba)')",
            (hogar, servicio, CUT),
        )


def update_and_release(url: str) -> dict:
    with psycopg.connect(url) as conn:
        result = compute_district(conn, "1116", fecha_corte=CUT)
        publish(conn, forzar=True)
    return result


@pytest.fixture(scope="module")
def villeta(make_database, pilotos, tmp_path_factory):
    from tests.conftest import HOUSEHOLD_COLUMNS, PERSON_COLUMNS, POINT_COLUMNS, load_hand_fixture

    url = make_database("versiones")
    hh, pp, points = villeta_subset(pilotos["folder"], res6_cells=1)
    load_hand_fixture(
        url,
        tmp_path_factory.mktemp("versiones"),
        points[POINT_COLUMNS].values.tolist(),
        hh[HOUSEHOLD_COLUMNS].values.tolist(),
        pp[PERSON_COLUMNS].values.tolist(),
        CUT,
    )
    return url


def _cell_for_grants(url: str) -> tuple[str, list[str]]:
    """A published res-8 cell with >= 10 households without Tekoporã and >= B - 1 with it.

    (With none before, a cell going from 0 to B grants with known events shows the
    floor at zero: the attacker learns that none of the others had it. See README.)
    """
    import h3

    shown = read(url, "SELECT codigo FROM publico.cobertura WHERE nivel = 'h3_8' AND NOT reservado")["codigo"]
    true = read(url, "SELECT codigo, tekopora_cubiertos, tekopora_aplica FROM calculo.agregado WHERE nivel = 'h3_8'")
    true = true[
        true["codigo"].isin(shown)
        & (true["tekopora_cubiertos"] >= BASE - 1)
        & (true["tekopora_aplica"] - true["tekopora_cubiertos"] >= 10)
    ].sort_values("codigo")
    assert len(true), "no suitable cell"
    cell = true["codigo"].iloc[0]
    households = read(
        url, "SELECT hogar_id, lat, lon FROM nominal.hogar WHERE NOT ('TEKOPORA' = ANY (servicios)) ORDER BY hogar_id"
    )
    inside = [h for h, lat, lon in households.itertuples(index=False) if h3.latlng_to_cell(lat, lon, 8) == cell]
    return cell, inside[:10]


def test_ten_grants_in_one_cell_published_one_by_one_reveal_no_count(villeta):
    import h3

    url = villeta
    cell, grants = _cell_for_grants(url)
    assert len(grants) == 10
    areas = (
        [("h3_8", cell)]
        + [(f"h3_{r}", h3.cell_to_parent(cell, r)) for r in (7, 6, 5)]
        + [("distrito", "1116"), ("departamento", "11"), ("pais", "PY")]
    )
    columns = ["tekopora_cubiertos", "tekopora_aplica", "tekopora_sin_oferta", "tekopora_con_oferta", "l9_protegidos"]
    truth0 = read(url, "SELECT nivel, codigo, tekopora_cubiertos FROM calculo.agregado").set_index(["nivel", "codigo"])
    releases = [public(url)]
    for hogar in grants:
        add_event(url, hogar, "TEKOPORA")
        update_and_release(url)
        releases.append(public(url))
    versions = {r["data_version"].iloc[0] for r in releases}
    assert len(versions) == 11, "one public release per grant (the worst case)"
    below, above = noise_bounds("tekopora_cubiertos")
    for area in areas:
        p = np.array([r.loc[area, "tekopora_cubiertos"] for r in releases], dtype=float)
        assert not np.isnan(p).any(), area
        t = np.arange(len(p))
        lo = max(0, (p - below - t).max())
        hi = (p + above - t).min()
        n0 = truth0.loc[area, "tekopora_cubiertos"]
        assert lo <= n0 <= hi
        print(
            f"\n{area}: published {p.astype(int).tolist()}, true before {n0}, attacker's interval [{lo:.0f}, {hi:.0f}]"
        )
        # At most n_0 + o is learnt: B candidates. (Clipping a count to its rounded total can
        # narrow a large count further; never a small one, never to one value.)
        assert hi - lo + 1 >= (BASE if n0 < 2 * T else 2), (area, lo, hi)
    # The published values follow one staircase: unchanged areas never move, the others
    # move by at most B per grant.
    for before, after in itertools.pairwise(releases):
        moved = (after.loc[areas, "tekopora_cubiertos"] - before.loc[areas, "tekopora_cubiertos"]).to_numpy(float)
        assert set(np.unique(moved)) <= {0.0, float(BASE)}
    assert all(c in releases[0].columns for c in columns)
    _history_adds_nothing(url, releases, truth0, areas)


def _history_adds_nothing(url: str, releases: list[pd.DataFrame], truth0: pd.DataFrame, areas: list) -> None:
    """The public history of the eleven releases (issue 24): each release kept with its version
    and date, every value exactly what that release published (so it tells no more than saving
    each release did), and the attacker reading the shares alone recovers no count."""
    from tests.ataque import history, interval_from_shares

    hist = history(url)
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "SELECT has_table_privilege('geoportal_publico', 'publico.cifra_historia', 'SELECT')"
        ).fetchone()[0]
    versions = [r["data_version"].iloc[0] for r in releases]
    assert set(versions) <= set(hist["data_version"]) and hist["fecha"].notna().all()
    kept = hist[hist["data_version"].isin(versions)]
    for version, frame in zip(versions, releases):
        mine = kept[kept["data_version"] == version].set_index(["nivel", "codigo", "columna"])["valor"]
        published = [frame.loc[(n, c), col] for n, c, col in mine.index]
        assert np.allclose(mine.to_numpy(float), np.asarray(published, dtype=float), atol=0.05), version
        assert set(mine.index.get_level_values("nivel")) == {"pais", "departamento", "distrito"}
        listed = frame[~frame["reservado"].astype(bool)]
        assert {(n, c) for n, c, _ in mine.index} <= set(listed.index)  # no reserved area kept
    for area in [a for a in areas if a[0] in ("distrito", "departamento", "pais")]:
        series = kept[(kept["nivel"] == area[0]) & (kept["codigo"] == area[1]) & (kept["columna"] == "tekopora_pct")]
        series = series.set_index("data_version").loc[versions, "valor"].to_numpy(float)
        denominators = {float(r.loc[area, "tekopora_aplica"]) for r in releases}
        assert len(denominators) == 1  # grants change the covered, not who it applies to
        lo, hi = interval_from_shares(series, denominators.pop(), "tekopora_cubiertos")
        n0 = truth0.loc[area, "tekopora_cubiertos"]
        print(f"\nhistory {area}: shares {series.tolist()}, true before {n0}, attacker's interval [{lo:.0f}, {hi:.0f}]")
        assert lo <= n0 <= hi
        assert hi - lo + 1 >= BASE, (area, lo, hi)  # never one value, never narrower than a rounding base


def test_one_event_changes_neither_the_public_loss_table_nor_says_where(villeta):
    url = villeta
    before_version = read(url, "SELECT data_version FROM publico.version WHERE vigente")["data_version"].item()
    loss_before = read(
        url,
        "SELECT nivel, zona, areas_reservadas_pct, hogares_en_reservadas_pct FROM publico.sdc_perdida"
        " WHERE data_version = %s ORDER BY nivel, zona",
        (before_version,),
    )
    before = public(url)
    hogar = read(
        url,
        "SELECT hogar_id FROM nominal.hogar WHERE NOT ('TEKOPORA' = ANY (servicios)) ORDER BY hogar_id DESC LIMIT 1",
    )["hogar_id"].item()
    add_event(url, hogar, "TEKOPORA")
    update_and_release(url)
    after = public(url)
    version = after["data_version"].iloc[0]
    assert version != before_version
    loss_after = read(
        url,
        "SELECT nivel, zona, areas_reservadas_pct, hogares_en_reservadas_pct FROM publico.sdc_perdida"
        " WHERE data_version = %s ORDER BY nivel, zona",
        (version,),
    )
    pd.testing.assert_frame_equal(loss_before, loss_after)
    # Every row carries the release's version: the rows do not date the event.
    assert (after["data_version"] == version).all() and (before["data_version"] == before_version).all()
    ambitos = read(url, "SELECT DISTINCT ambito FROM publico.version")["ambito"].tolist()
    assert ambitos == ["pais"]
    # The attacker intersects before and after (+1 where the household lies): nothing exact.
    both = before.index.intersection(after.index)
    p0s, p1s = before.loc[both, "tekopora_cubiertos"].astype(float), after.loc[both, "tekopora_cubiertos"].astype(float)
    changed = both[(p0s.notna() & p1s.notna() & (p0s != p1s)).to_numpy()]
    for area in changed:
        p0, p1 = before.loc[area, "tekopora_cubiertos"], after.loc[area, "tekopora_cubiertos"]
        lo, hi = max(p0 - 4, p1 - 4 - 1, 0), min(p0 + 4, p1 + 4 - 1)
        assert hi - lo + 1 >= BASE, (area, p0, p1)


def test_releases_are_batched_and_record_every_parameter(villeta):
    url = villeta
    with psycopg.connect(url) as conn:
        current = conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()[0]
        hogar = conn.execute(
            "SELECT hogar_id FROM nominal.hogar WHERE NOT ('VIVIENDA' = ANY (servicios)) ORDER BY hogar_id LIMIT 1"
        ).fetchone()[0]
    add_event(url, hogar, "VIVIENDA")
    with psycopg.connect(url) as conn:
        result = compute_district(conn, "1116", fecha_corte=CUT)  # default cadence: one week
        assert not result["publicada"]
        assert conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()[0] == current
        live = conn.execute(
            "SELECT data_version FROM calculo.cobertura_viva WHERE nivel = 'distrito' AND codigo = '1116'"
        )
        assert live.fetchone()[0] == result["data_version"]  # authorised roles see it live
        pending = conn.execute(
            "SELECT ambito, cambios FROM calculo.actualizacion WHERE publicada_en IS NULL"
        ).fetchall()
        assert pending and pending[-1][0] == "distrito 1116" and pending[-1][1] >= 1
        # Enough changes, not enough time: nothing; both: a release.
        assert not publish(conn, settings=Settings(publicacion_cadencia_horas=24, publicacion_min_cambios=1))[
            "publicada"
        ]
        assert not publish(conn, settings=Settings(publicacion_cadencia_horas=0, publicacion_min_cambios=1000))[
            "publicada"
        ]
        assert publish(conn, settings=Settings(publicacion_cadencia_horas=0, publicacion_min_cambios=1))["publicada"]
        parametros = conn.execute("SELECT parametros FROM publico.version WHERE vigente").fetchone()[0]
    assert parametros["fecha_corte"] == "2026-01-01"
    assert parametros["control_divulgacion"]["umbral_hogares"] == T
    assert {"datos", "red_de_puntos", "catalogo_sha256", "metas_sha256", "codigo"} <= set(parametros)
    assert "primaria" not in read(url, "SELECT * FROM publico.cobertura LIMIT 1").columns


def test_every_input_that_changes_a_number_changes_the_version(villeta):
    """The cut-off and the SDC settings used to publish new numbers under an old version."""
    url = villeta
    with psycopg.connect(url) as conn:
        a = compute_all(conn, fecha_corte=CUT)["data_version"]
        b = compute_all(conn, fecha_corte=date(2025, 6, 1))["data_version"]
        c = compute_all(conn, settings=Settings(base_redondeo=3), fecha_corte=CUT)["data_version"]
        d = compute_all(conn, fecha_corte=CUT)["data_version"]
        recorded = conn.execute("SELECT parametros FROM publico.version WHERE data_version = %s", (b,)).fetchone()[0]
    assert len({a, b, c}) == 3 and d == a
    assert recorded["fecha_corte"] == "2025-06-01"
