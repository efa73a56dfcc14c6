"""Households: size, zone, head and members, settlement seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoportal.synthetic.parametros import EDAD_MAXIMA
from geoportal.synthetic.registros import Hogares, Personas, SemillasLote


def _grouped_choice(
    rng: np.random.Generator, item_group: np.ndarray, weights: np.ndarray, draw_group: np.ndarray
) -> np.ndarray:
    """For each draw, an item of the draw's group with probability ∝ weight.

    ``item_group`` must be sorted; every group drawn from needs a positive total weight.
    """
    cw = np.concatenate([[0.0], np.cumsum(weights, dtype=np.float64)])
    first = np.searchsorted(item_group, draw_group, side="left")
    end = np.searchsorted(item_group, draw_group, side="right")
    lo, hi = cw[first], cw[end]
    u = lo + rng.random(len(draw_group)) * (hi - lo)
    idx = np.searchsorted(cw, u, side="right") - 1
    return np.clip(idx, first, end - 1)


def _group_rank(sorted_groups: np.ndarray) -> np.ndarray:
    """Position of each element inside its run of equal values (input sorted)."""
    n = len(sorted_groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    return np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))


# Indigenous status follows the locality (MODELLED): households drawn to a seed of an
# indigenous community (MEC school locality "COM INDIG ...", urban or rural) are
# indigenous with probability ``_P_IND_COMUNIDAD``; the rest of the district's indigenous
# target lives in rural non-community places (dispersed or near schools). A community
# takes at most ``_HOGARES_COMUNIDAD`` households on average.
_P_IND_COMUNIDAD = 0.92
_HOGARES_COMUNIDAD = 150


def _comunidades_y_semillas(rng, D, h_d, urbana, ind_share, sem):
    """Indigenous status and settlement seed of each household (in district order)."""
    H = len(h_d)
    tabla = sem.tabla
    com = tabla["comunidad"].to_numpy(bool)
    s_urb = tabla["urbana"].to_numpy(bool)
    H_d = np.bincount(h_d, minlength=D).astype(float)
    H_u = np.bincount(h_d[urbana], minlength=D).astype(float)
    H_r = H_d - H_u
    # 0.8: indigenous households are larger, so a household share of 0.8 x the target
    # gives about the target share of persons.
    target = 0.8 * ind_share * H_d
    n_cu = np.bincount(sem.d[com & s_urb], minlength=D).astype(float)
    n_cr = np.bincount(sem.d[com & ~s_urb], minlength=D).astype(float)
    want = target / _P_IND_COMUNIDAD
    c_u = np.minimum.reduce([want * n_cu / np.maximum(n_cu + n_cr, 1.0), 0.5 * H_u, _HOGARES_COMUNIDAD * n_cu])
    c_r = np.minimum.reduce([want - c_u, 0.9 * H_r, _HOGARES_COMUNIDAD * n_cr])
    q = np.where(urbana, c_u[h_d] / np.maximum(H_u[h_d], 1.0), c_r[h_d] / np.maximum(H_r[h_d], 1.0))
    en_comunidad = rng.random(H) < q
    resto = np.clip((target - _P_IND_COMUNIDAD * (c_u + c_r)) / np.maximum(H_r - c_r, 1.0), 0, 0.95)
    p_ind = np.where(en_comunidad, _P_IND_COMUNIDAD, np.where(urbana, 0.0, resto[h_d]))
    indigena = rng.random(H) < p_ind
    seed = np.empty(H, dtype=np.int64)
    groups = (
        (urbana & ~en_comunidad, tabla["w_u"].to_numpy(float)),
        (~urbana & ~en_comunidad, tabla["w_r"].to_numpy(float)),
        (urbana & en_comunidad, (com & s_urb).astype(float)),
        (~urbana & en_comunidad, (com & ~s_urb).astype(float)),
    )
    for mask, weights in groups:
        idx = np.flatnonzero(mask)
        seed[idx] = _grouped_choice(rng, sem.d, weights, h_d[idx])
    return indigena, seed


def _formar_hogares(
    sel: pd.DataFrame, per: Personas, sem: SemillasLote, rng: np.random.Generator
) -> tuple[Personas, Hogares]:
    """Group persons into households; return persons reordered by household, head first.

    Households get their zone, indigenous status and settlement seed first and are then
    numbered by district and seed, as a listing by locality would be.
    """
    D, N = len(sel), len(per.d)
    pob = sel["pob_total"].to_numpy(np.int64)
    urb_share = sel["urbana"].to_numpy(float)
    ind_share = sel["indigena"].to_numpy(float)
    mean_size = 3.0 + 0.5 * (1.0 - urb_share) + 1.8 * ind_share
    # Heads are 18+ at the interview (ages are completed years at the interview date).
    adult = per.edad >= 18
    adults = np.bincount(per.d[adult], minlength=D)
    H_d = np.clip(np.rint(pob / mean_size).astype(np.int64), 1, adults)
    H = int(H_d.sum())
    h_d = np.repeat(np.arange(D, dtype=np.int32), H_d)
    h_start_d = np.r_[0, np.cumsum(H_d)]
    urbana = rng.random(H) < urb_share[h_d]
    indigena, seed = _comunidades_y_semillas(rng, D, h_d, urbana, ind_share, sem)
    by_seed = np.argsort(seed, kind="stable")  # seeds are sorted by district too
    urbana, indigena, seed = urbana[by_seed], indigena[by_seed], seed[by_seed]
    del by_seed

    # sizes: 1 + Gamma-Poisson extra members, exact per district (multinomial)
    w = rng.gamma(7.0, 1.0, H) * np.where(urbana, 1.0, 1.25) * np.where(indigena, 1.5, 1.0)
    extra = np.empty(H, dtype=np.int64)
    for d in range(D):
        sl = slice(h_start_d[d], h_start_d[d + 1])
        extra[sl] = rng.multinomial(pob[d] - H_d[d], w[sl] / w[sl].sum())
    tamano = (1 + extra).astype(np.int32)
    del w, extra

    # heads: weighted sampling without replacement (Efraimidis-Spirakis) among adults
    adult_idx = np.flatnonzero(adult)
    w_age = np.interp(
        np.arange(EDAD_MAXIMA + 1),
        [18, 20, 25, 30, 65, 80, 100],
        [0.2, 0.3, 0.75, 1.0, 1.0, 0.9, 0.8],
    )
    w_head = w_age[per.edad[adult_idx]] * np.where(per.sexo[adult_idx] == 0, 1.7, 1.0)
    key = per.d[adult_idx] + (1.0 - rng.random(len(adult_idx)) ** (1.0 / w_head)) * 0.999
    ranked = adult_idx[np.argsort(key)]
    del key, w_head
    rank = _group_rank(per.d[ranked])
    heads = ranked[rank < H_d[per.d[ranked]]]  # by district, H_d each: head of household k
    del ranked, rank, adult_idx
    is_head = np.zeros(N, dtype=bool)
    is_head[heads] = True

    # other members fill the remaining places of their district by noisy age keys
    slots = np.repeat(np.arange(H, dtype=np.int32), tamano - 1)  # sorted by household
    head_age = per.edad[heads].astype(np.float64)
    slot_key = head_age[slots] + rng.normal(0.0, 7.0, len(slots))
    members = np.flatnonzero(~is_head)
    age_m = per.edad[members].astype(np.float64)
    u = rng.random(len(members))
    shift = np.select(
        [age_m < 18, age_m < 30, age_m < 65],
        [27.0, np.where(u < 0.6, 27.0, 0.0), np.where(u < 0.15, 27.0, 0.0)],
        np.where(u < 0.4, -27.0, 0.0),
    )
    mem_key = age_m + shift + rng.normal(0.0, 7.0, len(members))
    del age_m, u, shift

    def norm(k):
        return np.clip((k + 60.0) / 260.0, 0.0, 0.999999)

    o_slots = np.argsort(h_d[slots] + norm(slot_key))
    o_mem = np.argsort(per.d[members] + norm(mem_key))
    slot_person = np.empty(len(slots), dtype=np.int64)
    slot_person[o_slots] = members[o_mem]
    del o_slots, o_mem, slot_key, mem_key, members
    if not (per.d[slot_person] == h_d[slots]).all():
        raise AssertionError("miembro asignado a un hogar de otro distrito")
    del slots

    inicio = np.r_[0, np.cumsum(tamano[:-1], dtype=np.int64)]
    first = np.zeros(N, dtype=bool)
    first[inicio] = True
    order = np.empty(N, dtype=np.int64)
    order[inicio] = heads
    order[~first] = slot_person
    del slot_person, heads
    per = Personas(d=per.d[order], sexo=per.sexo[order], edad=per.edad[order])
    return per, Hogares(d=h_d, urbana=urbana, indigena=indigena, tamano=tamano, inicio=inicio, semilla=seed)


def submuestra(per: Personas, hog: Hogares, keep: np.ndarray) -> tuple[Personas, Hogares]:
    """The households ``keep`` (bool per household) with their members, in the same order."""
    hh = np.repeat(np.arange(len(hog.d)), hog.tamano)
    k = keep[hh]
    tamano = hog.tamano[keep]
    return Personas(d=per.d[k], sexo=per.sexo[k], edad=per.edad[k]), Hogares(
        d=hog.d[keep],
        urbana=hog.urbana[keep],
        indigena=hog.indigena[keep],
        tamano=tamano,
        inicio=np.cumsum(np.r_[0, tamano], dtype=np.int64)[:-1],
        semilla=hog.semilla[keep],
    )
