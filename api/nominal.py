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

from dataclasses import dataclass

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


def gaps(conn: psycopg.Connection, distrito: str, filtros: Filtros, catalog: Catalogo | None = None,
         fecha_corte=None) -> pd.DataFrame:
    """One row per (unit, service) gap of the district: unit ids, category, gap type, nearest point."""
    catalog = catalog or default_catalog()
    units = Units.from_db(conn, fecha_corte, distrito=distrito)
    hh = units.hogares.reset_index(drop=True)
    pp = units.personas.reset_index(drop=True)
    puntos = units.puntos.reset_index(drop=True)
    if filtros.localidad:
        hh = hh[hh["localidad"] == filtros.localidad].reset_index(drop=True)
        pp = pp[pp["hogar_id"].isin(hh["hogar_id"])].reset_index(drop=True)
    columns = ["unidad", "unidad_id", "hogar_id", "categorias", "servicio", "servicio_nombre", "paquete",
               "institucion", "brecha", "punto_id", "punto_tipo", "distancia_km", "localidad", "zona"]
    if hh.empty:
        return pd.DataFrame(columns=columns)
    of_person = index_in(pp["hogar_id"], hh["hogar_id"])
    urban = (hh["zona"] == "urbana").to_numpy()
    interviewed = hh["fecha_relevamiento"].to_numpy()
    p_status = person_status(catalog, pp, units.eventos, ages_reference(fecha_corte, hh, of_person),
                             interviewed[of_person])
    h_status = household_status(catalog, hh, units.eventos)
    person_cats = np.empty(len(pp), dtype=object)
    person_cats[:] = ""
    for cat in catalog.categorias:
        if cat.universo == "persona":
            member = p_status.universo[cat.logro]
            person_cats[member] = [f"{a},{cat.codigo}".lstrip(",") for a in person_cats[member]]
    nearest: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    frames = []
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
        at = of_person if s.unidad == "persona" else np.arange(len(hh))
        rows = np.flatnonzero(gap)
        house = at[rows]
        ids = (pp["persona_id"] if s.unidad == "persona" else hh["hogar_id"]).to_numpy()[rows]
        point = point_h[house]
        frames.append(pd.DataFrame({
            "unidad": s.unidad, "unidad_id": ids, "hogar_id": hh["hogar_id"].to_numpy()[house],
            "categorias": person_cats[rows] if s.unidad == "persona" else "hogar",
            "servicio": s.codigo, "servicio_nombre": s.nombre, "paquete": s.paquete, "institucion": s.institucion,
            "brecha": np.where(reach_h[house], "derivacion", "inversion"),
            "punto_id": np.where(point >= 0, puntos["punto_id"].to_numpy()[np.clip(point, 0, None)], None)
            if len(puntos) else None,
            "punto_tipo": s.punto_tipo,
            "distancia_km": np.round(km_h[house], 2),
            "localidad": hh["localidad"].to_numpy()[house], "zona": hh["zona"].to_numpy()[house],
        }))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    if filtros.brecha:
        out = out[out["brecha"] == filtros.brecha]
    return out.sort_values(["servicio", "localidad", "hogar_id", "unidad_id"]).reset_index(drop=True)[columns]


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
