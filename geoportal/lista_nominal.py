"""The Mesa's nominal list: unprotected persons and households of its district, by service.

Computed on demand from the nominal tables of the one district, with the coverage
engine's own functions (``geoportal.coverage`` status, ``geoportal.accesibilidad`` nearest
point and catchment), not stored per unit. Why: a stored per-unit status would be ~6 M persons
× ~25 services rewritten by every computation, and would lag behind a contrarreferencia
until the next recompute; the district's own read and vectorised status take a fraction
of a second (bench/derivaciones.py) and always agree with the latest status events, so a
delivered service leaves the list at once.

The connection is the caller's (the API's ``api.institucional.acceso.nominal_tx``):
Row-Level Security has already limited it to the session's district, so this module
cannot see another one.

Gap type, as in the published figures: *derivacion* when a delivery point of the
service's type lies within its catchment (or the service has no place), *inversion* when
none does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import psycopg

from geoportal.catalog import Catalogo, default_catalog
from geoportal.coverage import Units, household_status, index_in, person_status
from geoportal.dbcopy import connect_like
from geoportal.geodesia import chord_to_km, nearest_index, unit_vectors
from geoportal.pipeline import ages_reference


@dataclass
class FiltrosLista:
    """What the Mesa filters its list by (all optional)."""

    servicio: str | None = None
    categoria: str | None = None
    brecha: str | None = None  # derivacion | inversion
    paquete: str | None = "nucleo"
    localidad: str | None = None


def _nearest(units_lon, units_lat, puntos: pd.DataFrame, tipo: str) -> tuple[np.ndarray, np.ndarray]:
    """(km, row in puntos) of each unit's nearest point of ``tipo`` (inf, -1 if none)."""
    sub = puntos.index[puntos["tipo"] == tipo].to_numpy()
    km, idx = nearest_index(puntos.loc[sub, "lon"].to_numpy(float), puntos.loc[sub, "lat"].to_numpy(float)).query_km(
        unit_vectors(units_lon, units_lat)
    )
    return km, np.where(idx >= 0, sub[np.clip(idx, 0, None)] if len(sub) else -1, -1)


COLUMNS = [
    "unidad",
    "unidad_id",
    "hogar_id",
    "categorias",
    "servicio",
    "servicio_nombre",
    "paquete",
    "institucion",
    "brecha",
    "punto_id",
    "punto_tipo",
    "distancia_km",
    "localidad",
    "zona",
]


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
        return [
            {"servicio": s.codigo, "derivacion": int(reach.sum()), "inversion": int((~reach).sum())}
            for s, rows, _, reach, _, _ in self.parts
            if len(rows)
        ]

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
                out.append(
                    {
                        "unidad": s.unidad,
                        "unidad_id": ids[k],
                        "hogar_id": homes["hogar_id"].iat[k],
                        "categorias": self.person_cats[r[k]] if s.unidad == "persona" else "hogar",
                        "servicio": s.codigo,
                        "servicio_nombre": s.nombre,
                        "paquete": s.paquete,
                        "institucion": s.institucion,
                        "brecha": "derivacion" if ok[k] else "inversion",
                        "punto_id": point_ids[k],
                        "punto_tipo": s.punto_tipo,
                        "distancia_km": None if not np.isfinite(d[k]) else round(float(d[k]), 2),
                        "localidad": homes["localidad"].iat[k],
                        "zona": homes["zona"].iat[k],
                    }
                )
            left -= len(r)
        return out


@dataclass
class DistrictState:
    """What the list needs of a district before any filter: units, status, categories,
    and the nearest point of each type (filled as asked)."""

    hh: pd.DataFrame
    pp: pd.DataFrame
    puntos: pd.DataFrame
    of_person: np.ndarray
    p_status: object
    h_status: object
    person_cats: np.ndarray
    nearest: dict = field(default_factory=dict)

    def nearest_of(self, tipo: str) -> tuple[np.ndarray, np.ndarray]:
        if tipo not in self.nearest:
            self.nearest[tipo] = _nearest(self.hh["lon"], self.hh["lat"], self.puntos, tipo)
        return self.nearest[tipo]


SCOPE = ("geoportal.distritos", "geoportal.institucion", "geoportal.rol")


def _district_state(conn: psycopg.Connection, distrito: str, catalog: Catalogo, fecha_corte) -> DistrictState | None:
    # The persons are read on a second connection of the same role, given the same scope
    # for its own transaction (so Row-Level Security limits it exactly as ``conn``).
    scope = conn.execute("SELECT " + ", ".join(f"current_setting('{k}', true)" for k in SCOPE)).fetchone()
    with connect_like(conn) as companion:
        companion.execute(
            "SELECT " + ", ".join(f"set_config('{k}', %s, true)" for k in SCOPE), tuple(v or "" for v in scope)
        )
        units = Units.from_db(conn, fecha_corte, distrito=distrito, companion=companion, lugares=False)
    hh = units.hogares.reset_index(drop=True)
    if hh.empty:
        return None
    pp = units.personas.reset_index(drop=True)
    of_person = index_in(pp["hogar_id"], hh["hogar_id"])
    if (of_person < 0).any():  # a load committed between the two reads: its new members wait for the next
        pp = pp[of_person >= 0].reset_index(drop=True)
        of_person = of_person[of_person >= 0]
    p_status = person_status(
        catalog,
        pp,
        units.eventos,
        ages_reference(fecha_corte, hh, of_person),
        hh["fecha_relevamiento"].to_numpy()[of_person],
    )
    h_status = household_status(catalog, hh, units.eventos)
    # categories of each person, as "gestante,18-29": one label per distinct combination,
    # the combination packed as the bits of an integer (np.unique on rows is 100x slower)
    names = [c.codigo for c in catalog.categorias if c.universo == "persona"]
    member = np.column_stack([p_status.universo[c.logro] for c in catalog.categorias if c.universo == "persona"])
    packed = member.astype(np.int64) @ (np.int64(1) << np.arange(len(names), dtype=np.int64))
    combos, inverse = np.unique(packed, return_inverse=True)
    labels = np.array([",".join(n for k, n in enumerate(names) if combo >> k & 1) for combo in combos], dtype=object)
    return DistrictState(hh, pp, units.puntos.reset_index(drop=True), of_person, p_status, h_status, labels[inverse])


class _StateCache:
    """The last districts' states, in this process, keyed by what the *session* sees.

    The key holds a token read inside the caller's Row-Level-Security transaction: the
    district's visible households (count, newest batch), its visible status events
    (count, newest id) and the newest ingest batch of any kind (persons, points). Another
    district's token under this session's scope is "nothing visible", which is never
    cached nor served, so the cache cannot hand out rows the database would not; and any
    new event, referral outcome or load changes the token, so a delivered service leaves
    the list at once. Bounded by entries and by persons held."""

    def __init__(self, entries: int = 8, persons: int = 1_500_000):
        self.entries, self.persons = entries, persons
        self.data: OrderedDict[tuple, DistrictState] = OrderedDict()
        self.lock = threading.Lock()

    @staticmethod
    def key(conn: psycopg.Connection, distrito: str, fecha_corte) -> tuple | None:
        row = conn.execute(
            "SELECT h.n, h.lote, e.n, e.ultimo, (SELECT max(lote_id) FROM nominal.lote_ingesta),"
            " current_setting('geoportal.distritos', true), current_setting('geoportal.institucion', true)"
            " FROM (SELECT count(*) AS n, max(lote_id) AS lote FROM nominal.hogar WHERE codigo_distrito = %(d)s) h,"
            " (SELECT count(*) AS n, max(evento_id) AS ultimo FROM nominal.estatus_evento"
            "  WHERE codigo_distrito = %(d)s) e",
            {"d": distrito},
        ).fetchone()
        if not row[0]:
            return None
        info = conn.info
        return (info.host, info.port, info.dbname, distrito, fecha_corte, date.today(), *row)

    def get(self, conn: psycopg.Connection, distrito: str, catalog: Catalogo, fecha_corte) -> DistrictState | None:
        key = self.key(conn, distrito, fecha_corte)
        if key is not None and catalog is default_catalog():
            with self.lock:
                if key in self.data:
                    self.data.move_to_end(key)
                    return self.data[key]
        state = _district_state(conn, distrito, catalog, fecha_corte)
        if key is None or state is None or catalog is not default_catalog():
            return state
        with self.lock:
            self.data = OrderedDict((k, v) for k, v in self.data.items() if k[:5] != key[:5])  # older tokens
            self.data[key] = state
            while len(self.data) > self.entries or (
                len(self.data) > 1 and sum(len(v.pp) for v in self.data.values()) > self.persons
            ):
                self.data.popitem(last=False)
        return state


STATES = _StateCache()


def gaps(
    conn: psycopg.Connection, distrito: str, filtros: FiltrosLista, catalog: Catalogo | None = None, fecha_corte=None
) -> Gaps:
    """Every (unit, service) gap of the district: category, gap type, nearest point."""
    catalog = catalog or default_catalog()
    state = STATES.get(conn, distrito, catalog, fecha_corte)
    if state is None:
        return Gaps(
            pd.DataFrame(columns=["hogar_id"]),
            pd.DataFrame(columns=["persona_id"]),
            pd.DataFrame(),
            np.array([], dtype=object),
        )
    hh, p_status, h_status, of_person = state.hh, state.p_status, state.h_status, state.of_person
    result = Gaps(hh, state.pp, state.puntos, state.person_cats)
    urban = (hh["zona"] == "urbana").to_numpy()
    in_place = (hh["localidad"] == filtros.localidad).to_numpy() if filtros.localidad else None
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
            km_h, point_h = state.nearest_of(s.punto_tipo)
            reach_h = km_h <= s.radius_km(urban)
        else:
            km_h, point_h, reach_h = np.full(len(hh), np.nan), np.full(len(hh), -1), np.ones(len(hh), bool)
        rows = np.flatnonzero(gap)
        house = of_person[rows] if s.unidad == "persona" else rows
        keep = np.ones(len(rows), bool) if in_place is None else in_place[house]
        if filtros.brecha:
            keep &= reach_h[house] if filtros.brecha == "derivacion" else ~reach_h[house]
        rows, house = rows[keep], house[keep]
        result.parts.append((s, rows, house, reach_h[house], point_h[house], km_h[house]))
    return result


def point_names(conn: psycopg.Connection, ids) -> dict[str, str]:
    ids = sorted({i for i in ids if i})
    if not ids:
        return {}
    return dict(
        conn.execute("SELECT punto_id, nombre FROM oferta.punto_entrega WHERE punto_id = ANY(%s)", (ids,)).fetchall()
    )


def person_names(conn: psycopg.Connection, ids) -> dict[str, dict]:
    """Names, sex and birth date of the listed persons only (data minimisation)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT persona_id, nombres, apellidos, sexo, fecha_nacimiento FROM nominal.persona WHERE persona_id = ANY(%s)",
        (ids,),
    ).fetchall()
    return {
        r[0]: {"nombres": r[1], "apellidos": r[2], "sexo": r[3], "fecha_nacimiento": r[4].isoformat()} for r in rows
    }


@dataclass(frozen=True)
class Alcance:
    """How far a delivery point is from a unit's household, and the service's reach there."""

    km: float
    radio_km: float
    zona: str

    @property
    def dentro(self) -> bool:
        return self.km <= self.radio_km


def reach_of_point(conn: psycopg.Connection, hogar_id: str, punto_id: str, servicio) -> Alcance | None:
    """Great-circle distance household → point with the engine's geodesy (unit vectors,
    exact chord-to-arc, ``geoportal.geodesia``) against the catalog's catchment
    (``radio_km``, urban or rural by the household's zone). None: either is unknown."""
    home = conn.execute("SELECT lon, lat, zona FROM nominal.hogar WHERE hogar_id = %s", (hogar_id,)).fetchone()
    point = conn.execute("SELECT lon, lat FROM oferta.punto_entrega WHERE punto_id = %s", (punto_id,)).fetchone()
    if home is None or point is None or servicio.radio_km is None:
        return None
    xyz = unit_vectors(np.array([home[0], point[0]], float), np.array([home[1], point[1]], float))
    km = float(chord_to_km(np.linalg.norm(xyz[0] - xyz[1])))
    radius = float(servicio.radius_km(np.array([home[2] == "urbana"]))[0])
    return Alcance(km, radius, home[2])
