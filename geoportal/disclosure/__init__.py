"""Statistical disclosure control of every public number (one design, applied once per release).

Parameters (``Settings``): threshold T = ``umbral_hogares`` (10), base B = ``base_redondeo``
(5), the secret ``clave_secreta``; releases: ``publicacion_cadencia_horas``,
``publicacion_min_cambios``. Threat model and attacks: ``tests/http/test_divulgacion.py``
and ``tests/base_datos/test_ataque.py`` (an interval-propagation solver over every published
equation, checked against the truth).

1. **Threshold.** An area with fewer than T + u households is *reservado*: no count,
   share or mean of it is published. u = B - 1 - o, where o is the secret offset of the
   area's household count (``perturbation``): an area is published when n + o reaches
   T + B - 1, so it appears showing T households, and the release where it appears tells
   an attacker who controls its arrivals n + o, exactly what the rounding staircase tells
   anyway (B candidates for n). With an independent u the appearance told n + u and the
   staircase n + o: their difference pinned n whenever u + o was 0 or 2(B - 1).
   The threshold counts households, the unit that identifies a family. Person and
   entorno counts of a published area come from at least T households; a small
   sub-count inside it (2 pregnant women, 1 birth) is not suppressed but rounded like
   every count (published 0 or 5, never 1–4, never the same interval twice narrower
   than B), which is how census offices protect small cells of published areas.
2. **Coordinated complementary suppression** (``suppression``): reserved areas never
   stand alone in any way an area can be differenced — within the H3 tree, within
   country → department → district, district minus the H3 cells inside it and H3 cell
   minus the districts inside it (crossing cells included): the remainder is 0 or holds
   at least T households. A reserved area's H3 children, districts, and the areas of
   the other hierarchy wholly inside it are reserved too, so a reserved parent is never
   the sum of published children.
3. **What a reserved area shows.** Reserved hexagons of resolution 7 and 8 are **not
   listed** (no row, no geometry: a new household no longer appears as a new small
   hexagon); their households are in the published parent, whose reserved children
   hold at least T. Reserved res-5/6 cells and territories are listed as "reservado"
   with geometry and no figures.
4. **Rounding** (``perturbation``): every count is published as B * floor((n + o) / B)
   with a secret offset o per (area, **family**): columns that count the same units by
   the catalogue's rules (``familias``) share it and publish one value. Unbiased,
   |error| <= B - 1. Each row is consistent: every count is clipped to the counts of
   which it is a subset, the last gap is the rest, persons are at least the rounded age
   groups (covered + gaps = applies, covered <= universe, share <= 100 %). Consecutive
   releases of the same area reveal at most n + o, hence B candidates for n, however
   many releases (see ``perturbation``).
5. **Means** (``dist_*``, ``acceso_*``) are computed only from protected quantities:
   the class-midpoint mean of the *rounded* counts of households per class of the
   value (``aggregate.mean_classes``), over their own sum. They never divide by a true
   count, so means × counts equations carry no information about it.
6. **Shares** only where the published denominator is at least T.
7. **Audit** (``auditoria``): before a release is written, an interval attacker that
   knows more than any outsider (which remainders and district parts hold households)
   propagates every published sum; a shown household count it confines to fewer than B
   values is reserved and the release protected again, to a fixed point. On the
   national demo that reserves 14 of 40,119 areas.
8. **Releases.** The public ``data_version`` advances only in batched releases
   (``publicacion.publish``: a national computation, or pending district updates once the
   cadence has passed and enough records changed); between them authorised roles read
   the live protected table (``calculo.cobertura_viva``). A release names no area and
   no cause (``ambito`` is always the country; every row carries the release's version).
   Loss is public only coarsely (``publico.sdc_perdida``, whole percent); the exact
   table is ``calculo.sdc_perdida``.

Areas do not add up to their parent: each is rounded separately and reserved ones are
not shown (``NOTA_SUMAS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from geoportal.aggregate import mean_classes
from geoportal.disclosure.auditoria import narrowed
from geoportal.disclosure.familias import Familias, count_families
from geoportal.disclosure.perturbation import (
    area_keys,
    offsets,
    parent_rows,
    perturb,
    round_with_offset,
    shared_keys,
)
from geoportal.disclosure.suppression import LISTED_ALWAYS, Cross, Tree, fine_positions, reserve

__all__ = [
    "LISTED_ALWAYS",
    "NOTA_SUMAS",
    "Familias",
    "Protected",
    "area_keys",
    "coarse_loss",
    "count_families",
    "information_loss",
    "offsets",
    "perturb",
    "protect",
    "protected_means",
    "reserve",
    "round_with_offset",
    "shares",
]

AUDIT_ROUNDS = 6
NOTA_SUMAS = (
    "Las áreas no suman exactamente su área madre: cada cifra se redondea por separado y las "
    "áreas reservadas no se muestran."
)


@dataclass
class Protected:
    """The protection of every row of an aggregate, as arrays (``frame`` makes the rows)."""

    head: pd.DataFrame  # nivel, codigo, padre
    reserved: np.ndarray
    primary: np.ndarray  # reserved by the threshold itself (internal)
    counts: list[str]
    values: np.ndarray  # rows x counts, rounded; 0 where reserved
    huella: np.ndarray | None = None  # of each row, when the caller hashes them (publicacion.protected_rows)

    def frame(self, rows: np.ndarray | None = None) -> pd.DataFrame:
        """nivel, codigo, padre, reservado, primaria and the rounded counts (nullable Int64,
        NA where reserved) of ``rows`` (a mask; every row when None), and their huella if hashed."""
        head, reserved, primary, values = self.head, self.reserved, self.primary, self.values
        if rows is not None:
            head, reserved, primary, values = head[rows], reserved[rows], primary[rows], values[rows]
        head = head.reset_index(drop=True).assign(reservado=reserved, primaria=primary)
        masked = pd.DataFrame(
            {name: pd.arrays.IntegerArray(values[:, j], reserved.copy()) for j, name in enumerate(self.counts)}
        )
        out = pd.concat([head, masked], axis=1)
        if self.huella is not None:
            out["huella"] = self.huella if rows is None else self.huella[rows]
        return out

    def shown(self):
        """Each column of ``frame`` in its order, the counts as reals (NaN where reserved):
        what ``tabla_viva.row_hash`` reads of it, one column at a time."""
        for column in ("nivel", "codigo", "padre"):
            yield self.head[column].array
        yield self.reserved
        yield self.primary
        for j in range(len(self.counts)):
            numbers = self.values[:, j].astype(np.float64)
            numbers[self.reserved] = np.nan
            yield numbers


def protect(
    agregado: pd.DataFrame,
    counts: list[str],
    threshold: int,
    base: int,
    secret: str,
    families: Familias,
    fine: pd.DataFrame | None = None,
) -> Protected:
    """The protection of every (nivel, codigo) row (``Protected``; ``frame`` gives nivel,
    codigo, padre, reservado, primaria (internal) and the rounded counts, nullable Int64,
    NA where reserved). ``fine`` (fine-cell contributions) enables the cross-hierarchy rules.
    """
    agregado = agregado.reset_index(drop=True)
    tree = parent_rows(agregado)
    keys = shared_keys(agregado, secret, tree)
    hogares = agregado["hogares"].to_numpy(np.int64)
    # u = B - 1 - o of the household family: published from n + o >= T + B - 1 on.
    primary = hogares + offsets(keys["hogar"], families.family["hogares"], base) < threshold + base - 1
    primary, reserved, values = _audited(agregado, counts, families, keys, base, tree, primary, threshold, fine)
    values[reserved] = 0
    return Protected(agregado[["nivel", "codigo", "padre"]], reserved, primary, list(counts), values)


def _audited(agregado, counts, families, keys, base, tree, primary, threshold, fine):
    """Primary and all reserved rows, and the rounded counts, the audit (``auditoria``) run to a fixed point.

    The audit reads only the household count, so its rounds round that family alone;
    the whole release is rounded once, and audited again (a repair across families could
    move a household count: then the rounds go on with whole releases).
    """
    household = counts.index("hogares")
    audit = fine is not None and len(fine)
    whole = not audit
    reserved = None
    hierarchy = Tree(agregado)  # the rounds' constant structure, built once
    positions = fine_positions(agregado, fine) if audit else None
    cross = Cross(agregado, fine, positions) if audit else None
    for _ in range(AUDIT_ROUNDS):
        if reserved is None:
            reserved = reserve(agregado, primary, threshold, fine, tree=hierarchy, cross=cross)
        if whole:
            values = perturb(agregado, counts, families, keys, base, reserved, tree)
            if not audit:
                return primary, reserved, values
            shown = values[:, household]
        else:
            shown = perturb(agregado, ["hogares"], families, keys, base, reserved, tree)[:, 0]
        narrow = narrowed(agregado, shown, reserved, fine, threshold, base, hierarchy, positions)
        if narrow.any():
            primary, reserved = primary | narrow, None
        elif whole:
            return primary, reserved, values
        else:
            whole = True
    raise RuntimeError("la auditoría de divulgación no converge")


def protected_means(protected: pd.DataFrame, sums: list[str]) -> dict[str, np.ndarray]:
    """Published mean per sum: class-midpoint mean of the rounded class counts (NaN if none)."""
    out = {}
    classes = {name: mean_classes(name) for name in sums}
    needed = list(dict.fromkeys(c for _, _, columns in classes.values() for c in columns))
    block = protected[needed].to_numpy(dtype=float, na_value=np.nan)  # one selection, not one per sum
    position = {c: j for j, c in enumerate(needed)}
    for name in sums:
        _, mids, columns = classes[name]
        counts = block[:, [position[c] for c in columns]]
        total = counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (counts * mids).sum(axis=1) / total
        mean = np.where(total > 0, mean, np.nan)
        stem = name.removesuffix("_suma").removesuffix("_km")
        out[stem if stem.startswith("acceso_") else stem + "_km"] = np.round(mean, 1 if name.startswith("dist_") else 3)
    return out


def shares(frame: pd.DataFrame, pairs: dict[str, tuple[str, str]], threshold: int) -> dict[str, np.ndarray]:
    """Each name's percentage ``pairs[name]`` = (numerator, denominator) of ``frame``, with
    one decimal, only where the published denominator reaches the threshold (else NaN)."""
    num = frame[[n for n, _ in pairs.values()]].to_numpy(dtype=float, na_value=np.nan)
    den = frame[[d for _, d in pairs.values()]].to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.round(100.0 * num / den, 1)
    pct[~(den >= threshold)] = np.nan
    return {name: pct[:, j] for j, name in enumerate(pairs)}


def information_loss(agregado: pd.DataFrame, protected: pd.DataFrame, counts: list[str]) -> pd.DataFrame:
    """Exact loss (internal): areas and households reserved, counts changed, mean absolute change.

    By level and zone ('urbana' when most of an area's households are urban). Unlisted
    reserved hexagons are counted as areas.
    """
    agregado = agregado.reset_index(drop=True)
    protected = protected.reset_index(drop=True)
    rows = []
    zone = np.where(agregado["hogares_urbanos"] * 2 >= agregado["hogares"], "urbana", "rural")
    truth = agregado[counts].to_numpy(dtype=float)
    shown = protected[counts].to_numpy(dtype=float, na_value=np.nan)
    hogares = agregado["hogares"].to_numpy()
    for (level, z), idx in pd.Series(range(len(agregado))).groupby([agregado["nivel"].to_numpy(), zone]):
        idx = idx.to_numpy()
        res = protected["reservado"].to_numpy()[idx]
        visible = idx[~res]
        changed = shown[visible] != truth[visible]
        rows.append(
            {
                "nivel": level,
                "zona": z,
                "areas": len(idx),
                "areas_reservadas_pct": round(100 * res.mean(), 2) if len(idx) else 0.0,
                "hogares_en_reservadas_pct": round(100 * hogares[idx][res].sum() / max(hogares[idx].sum(), 1), 2),
                "cifras_cambiadas_pct": round(100 * changed.mean(), 2) if changed.size else 0.0,
                "cambio_absoluto_medio": round(float(np.abs(shown[visible] - truth[visible]).mean()), 3)
                if changed.size
                else 0.0,
            }
        )
    return pd.DataFrame(rows)


def coarse_loss(exact: pd.DataFrame) -> pd.DataFrame:
    """What is public of the loss: reserved shares of areas and households in whole percent."""
    return pd.DataFrame(
        {
            "nivel": exact["nivel"],
            "zona": exact["zona"],
            "areas_reservadas_pct": np.rint(exact["areas_reservadas_pct"]).astype(int),
            "hogares_en_reservadas_pct": np.rint(exact["hogares_en_reservadas_pct"]).astype(int),
        }
    )
