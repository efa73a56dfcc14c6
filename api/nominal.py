"""The Mesa's nominal list: unprotected persons and households of its district, by service.

Computed on demand from the nominal tables of the one district, with the coverage
engine's own functions (``geoportal.coverage`` status, ``geoportal.access`` nearest point
and catchment), not stored per unit. Why: a stored per-unit status would be ~6 M persons
× ~25 services rewritten by every computation, and would lag behind a contrarreferencia
until the next recompute; the district's own read and vectorised status take a fraction
of a second (bench/derivaciones.py) and always agree with the latest status events, so a
delivered service leaves the list at once.

The connection is the caller's ``api.acceso.nominal_tx``: Row-Level Security has already
limited it to the session's district, so this module cannot see another one.

Gap type, as in the published figures: *derivacion* when a delivery point of the
service's type lies within its catchment (or the service has no place), *inversion* when
none does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg

from geoportal.catalog import Catalogo, default_catalog
from geoportal.coverage import Units, household_status, person_status
from geoportal.geodesia import NearestIndex, unit_vectors
from geoportal.pipeline import ages_reference, index_in


@dataclass
class Filtros:
    servicio: str | None = None
    categoria: str | None = None
    brecha: str | None = None  # derivacion | inversion
    paquete: str | None = "nucleo"
    localidad: str | None = None


def _nearest(units_lon, units_lat, puntos: pd.DataFrame, tipo: str) -> tuple[np.ndarray, np.ndarray]:
    """(km, row in puntos) of each unit's nearest point of ``tipo`` (inf, -1 if none)."""
    sub = puntos.index[puntos["tipo"] == tipo].to_numpy()
    km, idx = NearestIndex(puntos.loc[sub, "lon"].to_numpy(float), puntos.loc[sub, "lat"].to_numpy(float)).query_xyz(
        unit_vectors(units_lon, units_lat))
    return km, np.where(idx >= 0, sub[np.clip(idx, 0, None)] if len(sub) else -1, -1)


COLUMNS = ["unidad", "unidad_id", "hogar_id", "categorias", "servicio", "servicio_nombre", "paquete", "institucion",
           "brecha", "punto_id", "punto_tipo", "distancia_km", "localidad", "zona"]


@dataclass
class Gaps:
    """The gaps of a district, kept as index arrays per service; rows are built only for
    the page asked for (a district has tens of thousands of gaps, a page a hundred).

    Order: services in catalog order, then units by id (households, persons by household)."""

    hogares: pd.DataFrame
    personas: pd.DataFrame
    puntos: pd.DataFrame
    person_cats: np.ndarray
    parts: list = field(default_factory=list)  # (service, unit rows, household rows, reach, point rows, km)

    @property
    def total(self) -> int:
        return int(sum(len(p[1]) for p in self.parts))

    def summary(self) -> list[dict]:
        return [{"servicio": s.codigo, "derivacion": int(reach.sum()), "inversion": int((~reach).sum())}
                for s, rows, _, reach, _, _ in self.parts if len(rows)]

    def find(self, servicio: str, unidad_id: str) -> dict | None:
        """The gap row of one unit and service, if it has that gap."""
        skip = 0
        for s, rows, *_ in self.parts:
            if s.codigo == servicio:
                ids = self.personas["persona_id"] if s.unidad == "persona" else self.hogares["hogar_id"]
                position = np.flatnonzero((ids == unidad_id).to_numpy())
                k = np.searchsorted(rows, position[0]) if len(position) else len(rows)
                if k < len(rows) and rows[k] == position[0]:
                    return self.rows(skip + int(k), 1)[0]
                return None
            skip += len(rows)
        return None

    def rows(self, desde: int = 0, limite: int | None = None) -> list[dict]:
        out, skip = [], desde
        left = self.total if limite is None else limite
        for s, rows, house, reach, point, km in self.parts:
            if left <= 0:
                break
            if skip >= len(rows):
                skip -= len(rows)
                continue
            take = slice(skip, skip + left)
            skip = 0
            r, h, ok, pt, d = rows[take], house[take], reach[take], point[take], km[take]
            ids = (self.personas["persona_id"] if s.unidad == "persona" else self.hogares["hogar_id"]).iloc[r].tolist()
            homes = self.hogares.iloc[h]
            point_ids = [self.puntos["punto_id"].iat[i] if i >= 0 else None for i in pt]
            for k in range(len(r)):
                out.append({
                    "unidad": s.unidad, "unidad_id": ids[k], "hogar_id": homes["hogar_id"].iat[k],
                    "categorias": self.person_cats[r[k]] if s.unidad == "persona" else "hogar",
                    "servicio": s.codigo, "servicio_nombre": s.nombre, "paquete": s.paquete,
                    "institucion": s.institucion, "brecha": "derivacion" if ok[k] else "inversion",
                    "punto_id": point_ids[k], "punto_tipo": s.punto_tipo,
                    "distancia_km": None if not np.isfinite(d[k]) else round(float(d[k]), 2),
                    "localidad": homes["localidad"].iat[k], "zona": homes["zona"].iat[k],
                })
            left -= len(r)
        return out


def gaps(conn: psycopg.Connection, distrito: str, filtros: Filtros, catalog: Catalogo | None = None,
         fecha_corte=None) -> Gaps:
    """Every (unit, service) gap of the district: category, gap type, nearest point."""
    catalog = catalog or default_catalog()
    units = Units.from_db(conn, fecha_corte, distrito=distrito)
    hh = units.hogares.reset_index(drop=True)
    pp = units.personas.reset_index(drop=True)
    puntos = units.puntos.reset_index(drop=True)
    if filtros.localidad:
        hh = hh[hh["localidad"] == filtros.localidad].reset_index(drop=True)
        pp = pp[pp["hogar_id"].isin(hh["hogar_id"])].reset_index(drop=True)
    result = Gaps(hh, pp, puntos, np.array([], dtype=object))
    if hh.empty:
        return result
    of_person = index_in(pp["hogar_id"], hh["hogar_id"])
    urban = (hh["zona"] == "urbana").to_numpy()
    interviewed = hh["fecha_relevamiento"].to_numpy()
    p_status = person_status(catalog, pp, units.eventos, ages_reference(fecha_corte, hh, of_person),
                             interviewed[of_person])
    h_status = household_status(catalog, hh, units.eventos)
    # categories of each person, as "gestante,18-29" (one string per distinct combination)
    person_cats = np.full(len(pp), "", dtype=object)
    member = np.column_stack([p_status.universo[c.logro] for c in catalog.categorias if c.universo == "persona"])
    names = [c.codigo for c in catalog.categorias if c.universo == "persona"]
    combos, inverse = np.unique(member, axis=0, return_inverse=True)
    labels = np.array([",".join(n for n, m in zip(names, combo) if m) for combo in combos], dtype=object)
    person_cats = labels[inverse.ravel()]
    result.person_cats = person_cats
    nearest: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for s in catalog.servicios:
        if s.unidad == "entorno" or (filtros.servicio and s.codigo != filtros.servicio):
            continue
        if filtros.paquete and s.paquete != filtros.paquete:
            continue
        if filtros.categoria and filtros.categoria not in s.categorias:
            continue
        status = p_status if s.unidad == "persona" else h_status
        j = status.codes.index(s.codigo)
        gap = status.aplica[:, j] & ~status.cubierto[:, j]
        if s.unidad == "persona" and filtros.categoria and filtros.categoria != "hogar":
            gap &= p_status.universo[catalog.categoria(filtros.categoria).logro]
        if s.punto_tipo:
            if s.punto_tipo not in nearest:
                nearest[s.punto_tipo] = _nearest(hh["lon"], hh["lat"], puntos, s.punto_tipo)
            km_h, point_h = nearest[s.punto_tipo]
            reach_h = km_h <= s.radius_km(urban)
        else:
            km_h, point_h, reach_h = np.full(len(hh), np.nan), np.full(len(hh), -1), np.ones(len(hh), bool)
        rows = np.flatnonzero(gap)
        house = of_person[rows] if s.unidad == "persona" else rows
        reach = reach_h[house]
        if filtros.brecha:
            keep = reach if filtros.brecha == "derivacion" else ~reach
            rows, house, reach = rows[keep], house[keep], reach[keep]
        result.parts.append((s, rows, house, reach, point_h[house], km_h[house]))
    return result


def point_names(conn: psycopg.Connection, ids) -> dict[str, str]:
    ids = sorted({i for i in ids if i})
    if not ids:
        return {}
    return dict(conn.execute("SELECT punto_id, nombre FROM oferta.punto_entrega WHERE punto_id = ANY(%s)", (ids,)).fetchall())


def person_names(conn: psycopg.Connection, ids) -> dict[str, dict]:
    """Names, sex and birth date of the listed persons only (data minimisation)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT persona_id, nombres, apellidos, sexo, fecha_nacimiento FROM nominal.persona WHERE persona_id = ANY(%s)",
        (ids,)).fetchall()
    return {r[0]: {"nombres": r[1], "apellidos": r[2], "sexo": r[3], "fecha_nacimiento": r[4].isoformat()} for r in rows}
