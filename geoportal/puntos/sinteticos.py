"""The synthetic part of the network (USF, Registro Civil, Identificaciones, SNPP, IPS
and the rest), placed around real anchors; never presented as real (origen = sintetico)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geoportal.puntos.comun import _UNCERTAIN, CAPITALES, USF_TOTAL, _frame, _Inputs, _metres
from geoportal.puntos.reales import _seats_2022


# ------------------------------------------------------------------------ synthetic points
def _place(rng, inp: _Inputs, poly: np.ndarray, lon: np.ndarray, lat: np.ndarray, sigma_m: float):
    """Jitter anchors (inside their polygon) by ~sigma_m metres; keep every result inside.

    Anchors that cannot be moved inside the polygon after a few tries stay where they are.
    """
    geoms = inp.polys["geometry"].to_numpy()[poly]
    anchors_in = shapely.contains_xy(geoms, lon, lat)
    if not anchors_in.all():
        raise AssertionError("ancla sintética fuera de su distrito")
    out_lon, out_lat = lon.copy(), lat.copy()
    todo = np.ones(len(lon), dtype=bool)
    for _ in range(12):
        if not todo.any():
            break
        k = np.flatnonzero(todo)
        dy = rng.normal(0.0, sigma_m, len(k)) / 110_574.0
        dx = rng.normal(0.0, sigma_m, len(k)) / (111_320.0 * np.cos(np.radians(lat[k])))
        cand_lon = np.round(lon[k] + dx, 6)
        cand_lat = np.round(lat[k] + dy, 6)
        good = shapely.contains_xy(geoms[k], cand_lon, cand_lat)
        out_lon[k[good]], out_lat[k[good]] = cand_lon[good], cand_lat[good]
        todo[k[good]] = False
    return out_lon, out_lat


def _pick_anchors(rng, cand_poly, cand_lon, cand_lat, need: np.ndarray):
    """For polygon i pick need[i] anchors among its candidates, repeating only when short."""
    cand_poly = np.asarray(cand_poly)
    counts = np.bincount(cand_poly, minlength=len(need))
    copies = np.ceil(need / np.maximum(counts, 1)).astype(int)
    reps = copies[cand_poly]
    rep_idx = np.repeat(np.arange(len(cand_poly)), reps)
    copy_no = np.arange(len(rep_idx)) - np.repeat(np.cumsum(reps) - reps, reps)
    key = copy_no + rng.random(len(rep_idx))
    df = pd.DataFrame({"poly": cand_poly[rep_idx], "key": key, "cand": rep_idx})
    df = df.sort_values(["poly", "key"], kind="stable")
    df["rank"] = df.groupby("poly").cumcount()
    df = df[df["rank"].to_numpy() < need[df["poly"].to_numpy()]]
    c = df["cand"].to_numpy()
    return (
        df["poly"].to_numpy(),
        df["rank"].to_numpy() + 1,
        np.asarray(cand_lon)[c],
        np.asarray(cand_lat)[c],
    )


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    share = weights / weights.sum() * total
    base = np.floor(share).astype(int)
    rest = total - base.sum()
    order = np.lexsort((np.arange(len(share)), -(share - base)))  # ties by position
    base[order[:rest]] += 1
    return base


def _synthetic(inp: _Inputs, rng: np.random.Generator) -> pd.DataFrame:
    polys, censo, seats = inp.polys, inp.censo, inp.seats
    n_poly = len(polys)
    linked = censo[censo["poly"] >= 0]
    seated = linked[linked["relacion"] != _UNCERTAIN]
    pop_poly = np.bincount(linked["poly"], weights=linked["pob_total"], minlength=n_poly)
    frames = []

    # USF: one at every district seat, the rest by population (random places).
    s_poly, s_lon, s_lat, _ = _seats_2022(inp)
    u_lon, u_lat = _place(rng, inp, s_poly, s_lon, s_lat, sigma_m=150.0)
    need = _largest_remainder(pop_poly, USF_TOTAL - len(s_poly))
    schools, places = inp.schools, inp.places
    cand_poly = np.concatenate([schools["poly"], places["poly"], np.arange(n_poly)])
    cand_lon = np.concatenate([schools["lon"], places["lon"], seats["lon"]])
    cand_lat = np.concatenate([schools["lat"], places["lat"], seats["lat"]])
    poly, _, lon, lat = _pick_anchors(rng, cand_poly, cand_lon, cand_lat, need)
    lon, lat = _place(rng, inp, poly, lon, lat, sigma_m=300.0)
    all_poly = np.concatenate([s_poly, poly])
    frames.append(
        _frame(
            "usf",
            "MSPBS",
            "USF (sintética)",
            all_poly,
            pd.Series(all_poly).groupby(all_poly).cumcount().to_numpy() + 1,
            np.concatenate([u_lon, lon]),
            np.concatenate([u_lat, lat]),
            capacidad=rng.integers(70, 121, len(all_poly)) * 10,
            inp=inp,
        )
    )

    # Registro Civil: one per 2022 district with a seat, extras in big districts.
    rc_poly = seated["poly"].to_numpy()
    rc_lon, rc_lat = _place(rng, inp, rc_poly, seated["seat_lon"].to_numpy(), seated["seat_lat"].to_numpy(), 150.0)
    extra = (seated["pob_total"].to_numpy() // 100_000).astype(int)
    ex_need = np.bincount(rc_poly, weights=extra, minlength=n_poly).astype(int)
    urban = schools[schools["zona"].str.upper() == "URBANA"]
    # Urban schools, and the seat so that a polygon without urban schools still gets one.
    u_poly = np.concatenate([urban["poly"], np.arange(n_poly)])
    u_lon = np.concatenate([urban["lon"], seats["lon"]])
    u_lat = np.concatenate([urban["lat"], seats["lat"]])
    e_poly, _, e_lon, e_lat = _pick_anchors(rng, u_poly, u_lon, u_lat, ex_need)
    e_lon, e_lat = _place(rng, inp, e_poly, e_lon, e_lat, 300.0)
    all_poly = np.concatenate([rc_poly, e_poly])
    offices = np.bincount(all_poly, minlength=n_poly)
    cap = pop_poly[all_poly] * 0.03 / offices[all_poly] * rng.uniform(0.8, 1.2, len(all_poly))
    names = np.concatenate([seated["distrito_nombre"].to_numpy(), polys["nombre"].to_numpy()[e_poly]])
    numero = pd.Series(names).groupby(names).cumcount().to_numpy() + 1
    frames.append(
        _frame(
            "registro_civil",
            "REGISTRO_CIVIL",
            "Registro Civil (sintético)",
            all_poly,
            numero,
            np.concatenate([rc_lon, e_lon]),
            np.concatenate([rc_lat, e_lat]),
            capacidad=np.maximum(np.rint(cap / 10) * 10, 100),
            inp=inp,
            names=names,
        )
    )

    # Identificaciones: department capitals and districts over 50,000 inhabitants.
    idf = seated[seated["codigo"].isin(CAPITALES.values()) | (seated["pob_total"] > 50_000)]
    i_poly = idf["poly"].to_numpy()
    i_lon, i_lat = _place(rng, inp, i_poly, idf["seat_lon"].to_numpy(), idf["seat_lat"].to_numpy(), 150.0)
    cap = idf["pob_total"].to_numpy() * 0.05 * rng.uniform(0.8, 1.2, len(idf))
    frames.append(
        _frame(
            "identificaciones",
            "IDENTIFICACIONES",
            "Identificaciones (sintética)",
            i_poly,
            np.ones(len(idf), int),
            i_lon,
            i_lat,
            capacidad=np.maximum(np.rint(cap / 10) * 10, 500),
            inp=inp,
            names=idf["distrito_nombre"].to_numpy(),
        )
    )

    # SNPP: capital and most populous other district of each department; Asunción (one
    # district) gets its second centre near an urban school.
    by_pop = seated.sort_values(["pob_total", "codigo"], ascending=[False, True])
    capital = by_pop[by_pop["codigo"].isin(CAPITALES.values())]
    other = by_pop[~by_pop["codigo"].isin(CAPITALES.values())].drop_duplicates("dpto")
    sn = pd.concat([capital, other]).sort_values("codigo")
    s_poly = sn["poly"].to_numpy()
    s_lon, s_lat = _place(rng, inp, s_poly, sn["seat_lon"].to_numpy(), sn["seat_lat"].to_numpy(), 300.0)
    lone = capital[~capital["dpto"].isin(other["dpto"])]
    l_need = np.bincount(lone["poly"], minlength=n_poly)
    l_poly, _, l_lon, l_lat = _pick_anchors(rng, u_poly, u_lon, u_lat, l_need)
    l_lon, l_lat = _place(rng, inp, l_poly, l_lon, l_lat, 300.0)
    names = np.concatenate([sn["distrito_nombre"].to_numpy(), polys["nombre"].to_numpy()[l_poly]])
    s_all = np.concatenate([s_poly, l_poly])
    frames.append(
        _frame(
            "snpp",
            "MTESS",
            "Centro SNPP (sintético)",
            s_all,
            pd.Series(names).groupby(names).cumcount().to_numpy() + 1,
            np.concatenate([s_lon, l_lon]),
            np.concatenate([s_lat, l_lat]),
            capacidad=rng.integers(30, 151, len(s_all)) * 10,
            inp=inp,
            names=names,
        )
    )
    frames.append(_seat_service(inp, rng, pd.concat(frames, ignore_index=True)))
    return pd.concat(frames, ignore_index=True)


# Types whose office every district seat must have within reach, and the reach: the
# smallest urban catchment radius of the catalog services delivered there (snpp: the
# rural one, a training centre serves a region). A seat without one gets one.
_SEAT_TYPES = {
    "usf": ("MSPBS", "USF (sintética)", "urbana"),
    "registro_civil": ("REGISTRO_CIVIL", "Registro Civil (sintético)", "urbana"),
    "identificaciones": ("IDENTIFICACIONES", "Identificaciones (sintética)", "urbana"),
    "snpp": ("MTESS", "Centro SNPP (sintético)", "rural"),
}


def _seat_radius_km(tipo: str, zona: str) -> float:
    from geoportal.catalog import default_catalog

    radios = [getattr(s.radio_km, zona) for s in default_catalog().servicios if s.punto_tipo == tipo]
    return float(min(radios)) if radios else 5.0


def _seat_service(inp: _Inputs, rng: np.random.Generator, synth: pd.DataFrame) -> pd.DataFrame:
    """Offices added at the district seats (the ones the synthetic households cluster
    around, :mod:`geoportal.synthetic.lugares`) that have none of a type within reach."""
    s_poly, s_lon, s_lat, names = _seats_2022(inp)
    xy = _metres(s_lon, s_lat)
    frames = []
    for tipo, (institucion, prefix, zona) in _SEAT_TYPES.items():
        have = synth[synth["tipo"] == tipo]
        reach_m = 0.6 * _seat_radius_km(tipo, zona) * 1000.0
        dist = cKDTree(_metres(have["lon"], have["lat"])).query(xy)[0] if len(have) else np.full(len(xy), np.inf)
        need = np.flatnonzero(dist > reach_m)
        if not len(need):
            continue
        lon, lat = _place(rng, inp, s_poly[need], s_lon[need], s_lat[need], 150.0)
        frames.append(
            _frame(
                tipo,
                institucion,
                prefix + " sede",
                s_poly[need],
                np.ones(len(need), int),
                lon,
                lat,
                capacidad=rng.integers(30, 121, len(need)) * 10,
                inp=inp,
                names=names[need],
            )
        )
    out = pd.concat(frames, ignore_index=True) if frames else synth.iloc[:0]
    # ids continue after the existing ones of each type
    out = out.copy()
    for tipo, idx in out.groupby("tipo").groups.items():
        first = int((synth["tipo"] == tipo).sum())
        out.loc[idx, "punto_id"] = [f"{tipo}:sint:{first + k:06d}" for k in range(1, len(idx) + 1)]
    return out
