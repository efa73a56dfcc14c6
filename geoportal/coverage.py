"""Protection status and concurrent coverage (the 10 Logros), per unit.

For every unit (person, household, entorno) and every catalog service this module says
whether the service *applies* (catalog rules) and whether the unit is *covered*:

- persons and households: the FIPS answer (codes listed in ``servicios``), overridden by
  the newest administrative record or contrarreferencia in ``nominal.estatus_evento``
  **dated on or after the household's interview** (an older record describes a status
  the interview has since observed, so the interview wins) and, with a cut-off date, **on
  or before the cut-off** (a later event had not happened yet at that date);
- entorno (a declared localidad of a district): ``origen_estatus: oferta`` services are
  covered when most of the localidad's households have a delivery point of the type
  within the service's catchment (judged where people live, not from one centre point);
  ``fips`` ones (the all-weather road) when most of its households report them, each
  household's answer updated by its own events as above.

An entorno is counted in the H3 cell of its **reference point**: the real locality point
(``territorio.lugar``: GeoNames place or MEC locality of the same 2012 district polygon
and name, the one nearest the households, if within ``LUGAR_MAX_KM`` of them), else its
medoid household (the household nearest the median of its households' coordinates).
Every input is read in a fixed order (``ORDER BY`` the ids), so the same data gives
byte-identical results whatever the physical row order (after a dump and restore, say).

With a cut-off date the computation describes what was known at that date: households
interviewed after it, their persons and persons born after it are left out entirely
(``Units.from_db``), as events after it are.

Status is then ``cubierto`` (applies and covered), ``no cubierto`` (applies, not covered)
or ``no aplica``. A unit is *protected* in its category (cobertura concurrente) when it
is covered by every núcleo service of the category that applies to it.

Everything is computed on whole arrays; ``Units`` holds the inputs, ``Status`` the result.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg.pq import TransactionStatus

from geoportal import huella
from geoportal.catalog import Catalogo
from geoportal.dbcopy import copy_out

ENTORNO_MAJORITY = 0.5
LUGAR_MAX_KM = 10.0


@dataclass
class Units:
    """Households, persons and points of one computation (the whole country or a district)."""

    hogares: pd.DataFrame
    personas: pd.DataFrame
    puntos: pd.DataFrame
    eventos: pd.DataFrame
    fecha_corte: date | None  # None: each person's age at their household's survey date
    # Real locality points (territorio.lugar: lugar_id, clave, codigo_2012, lon, lat).
    lugares: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["lugar_id", "clave", "codigo_2012", "lon", "lat"])
    )
    adelanto: object = None  # what ``from_db``'s ``meanwhile`` computed from the rest while the persons were read
    _of_person: tuple | None = field(default=None, repr=False)  # (hogares, personas, rows) of the last call

    def household_of_persons(self) -> np.ndarray:
        """Row in ``hogares`` of each person's household (-1 when absent), computed once per pair of frames."""
        cached = self._of_person
        if cached is None or cached[0] is not self.hogares or cached[1] is not self.personas:
            cached = (self.hogares, self.personas, index_in(self.personas["hogar_id"], self.hogares["hogar_id"]))
            self._of_person = cached
        return cached[2]

    @classmethod
    def from_db(
        cls,
        conn: psycopg.Connection,
        fecha_corte: date | None = None,
        distrito: str | None = None,
        companion: psycopg.Connection | None = None,
        lugares: bool = True,
        meanwhile=None,
        huellas: bool = False,
    ) -> Units:
        """``companion``: a second connection that sees the same rows (same role and scope);
        the persons, the largest read, go through it while the rest is read on ``conn``
        (``conn`` itself in a transaction: the persons are read after the rest).
        ``lugares=False`` skips the locality points (only the entornos need them).
        ``meanwhile(units)``: work that needs no person, run while the persons are still
        being read (``units.personas`` empty then); its result is kept in ``units.adelanto``.
        ``huellas``: each household, person and event comes with its row hash (``huella``
        column, ``huella.district_sums``).

        With a cut-off, what did not exist at that date counts nowhere: a household
        interviewed after it (the survey had not reached it yet, as an event after the
        cut-off had not happened), its persons, and a person born after it."""
        household_where = [
            w
            for w, v in (("h.codigo_distrito = {}", distrito), ("h.fecha_relevamiento <= {}", fecha_corte))
            if v is not None
        ]
        household_params = tuple(v for v in (distrito, fecha_corte) if v is not None)
        only = " WHERE " + " AND ".join(household_where) if household_where else ""
        # Every read has an ORDER BY: results must not depend on the physical row order.
        persons_sql = (
            "SELECT p.persona_id, p.hogar_id, p.sexo, p.fecha_nacimiento, p.embarazada, p.discapacidad, p.indigena,"
            " array_to_string(p.servicios, ';') AS servicios"
            + (f", {huella.PERSONA} AS huella" if huellas else "")
            + " FROM nominal.persona p"
            + ("" if distrito is None else " JOIN nominal.hogar h USING (hogar_id)" + only)
            + (
                ""
                if fecha_corte is None
                else (" AND" if distrito is not None else " WHERE") + " p.fecha_nacimiento <= {}"
            )
            + " ORDER BY p.persona_id"
        )
        persons_params = (household_params if distrito is not None else ()) + ((fecha_corte,) if fecha_corte else ())
        if companion is None and distrito is None and conn.info.transaction_status == TransactionStatus.IDLE:
            companion = conn  # its reads are binary COPYs on sessions of their own (dbcopy)

        def read_persons(session: psycopg.Connection) -> pd.DataFrame:
            frame = copy_out(session, persons_sql, persons_params)
            if huellas:
                frame["huella"] = huella.with_services(frame["huella"], frame["servicios"], huella.SERVICIOS_PERSONA)
            return frame

        # ``conn`` itself as companion inside a transaction: one session, whose reads go one
        # after the other (as CSV), so the persons come last, while ``meanwhile`` works.
        one_session = companion is conn and conn.info.transaction_status != TransactionStatus.IDLE
        with ThreadPoolExecutor(max_workers=1) as pool:
            reading = pool.submit(read_persons, companion) if companion is not None and not one_session else None
            hogares = copy_out(
                conn,
                "SELECT h.hogar_id, h.codigo_distrito, coalesce(h.codigo_2012, '') AS codigo_2012, d.dpto, h.localidad,"
                " h.zona, h.fecha_relevamiento, h.lon, h.lat, h.h3_8, array_to_string(h.servicios, ';') AS servicios"
                + (f", {huella.HOGAR} AS huella" if huellas else "")
                + " FROM nominal.hogar h"
                " JOIN territorio.distrito d ON d.codigo = h.codigo_distrito" + only + " ORDER BY h.hogar_id",
                household_params,
            )
            if huellas:
                hogares["huella"] = huella.with_services(
                    hogares["huella"], hogares["servicios"], huella.SERVICIOS_HOGAR
                )
            puntos = copy_out(
                conn,
                "SELECT punto_id, tipo, zona, capacidad, lon, lat, origen FROM oferta.punto_entrega ORDER BY punto_id",
            )
            # The newest event up to the cut-off (if any) of each unit and service; a
            # district's through the district its unit is in (kept on the event, migration 0009).
            where = [w for w, v in (("codigo_distrito = {}", distrito), ("fecha <= {}", fecha_corte)) if v is not None]
            eventos = copy_out(
                conn,
                "SELECT DISTINCT ON (unidad, unidad_id, servicio) unidad, unidad_id, servicio, cubierto, fecha, fuente"
                + (f", e.codigo_distrito AS distrito_evento, {huella.EVENTO} AS huella" if huellas else "")
                + " FROM nominal.estatus_evento e"
                + (" WHERE " + " AND ".join(where) if where else "")
                + " ORDER BY unidad, unidad_id, servicio, fecha DESC, registrado DESC, evento_id DESC",
                tuple(v for v in (distrito, fecha_corte) if v is not None),
            )
            places = (
                copy_out(conn, "SELECT lugar_id, clave, codigo_2012, lon, lat FROM territorio.lugar ORDER BY lugar_id")
                if lugares
                else pd.DataFrame(columns=["lugar_id", "clave", "codigo_2012", "lon", "lat"])
            )
            if one_session:
                reading = pool.submit(read_persons, conn)
            ahead = None
            if meanwhile is not None:
                ahead = meanwhile(cls(hogares, pd.DataFrame(), puntos, eventos, fecha_corte, places))
            personas = reading.result() if reading is not None else read_persons(conn)
        if fecha_corte is not None and len(personas):  # members of households interviewed after the cut-off
            kept = pc.is_in(
                pa.array(personas["hogar_id"].array, type=pa.string(), from_pandas=True),
                value_set=pa.array(hogares["hogar_id"].array, type=pa.string(), from_pandas=True),
            )
            if not pc.all(kept).as_py():
                personas = personas[kept.to_numpy(zero_copy_only=False)].reset_index(drop=True)
        return cls(hogares, personas, puntos, eventos, fecha_corte, places, ahead)


def index_in(values: pd.Series, universe: pd.Series) -> np.ndarray:
    """Position of each value in ``universe`` (-1 when absent), hashed by Arrow."""
    found = pc.index_in(
        pa.array(values.array, type=pa.string(), from_pandas=True),
        value_set=pa.array(universe.array, type=pa.string(), from_pandas=True),
    )
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def positions_of(wanted: pd.Series, universe: pd.Series) -> np.ndarray:
    """``index_in`` for a few values in a large universe (events among millions of
    persons): the universe is only scanned for them, never hashed whole."""
    everything = pa.array(universe.array, type=pa.string(), from_pandas=True)
    few = pa.array(wanted.array, type=pa.string(), from_pandas=True)
    candidates = np.flatnonzero(pc.is_in(everything, value_set=few).to_numpy(zero_copy_only=False))
    found = pc.index_in(few, value_set=everything.take(pa.array(candidates))).fill_null(-1)
    found = found.to_numpy(zero_copy_only=False).astype(np.int64)
    picked = np.full(len(found), -1, dtype=np.int64)
    picked[found >= 0] = candidates[found[found >= 0]]
    return picked


def covered_matrix(listed: pd.Series, codes: list[str]) -> np.ndarray:
    """Boolean (n, len(codes)): is code j listed in row i's ';'-joined services.

    Distinct strings are parsed once (a country has millions of rows, few combinations).
    """
    inverse, uniques = pd.factorize(listed.fillna(""))
    table = np.zeros((len(uniques), len(codes)), dtype=bool)
    position = {c: j for j, c in enumerate(codes)}
    for i, text in enumerate(uniques):
        for code in text.split(";"):
            j = position.get(code.strip())
            if j is not None:
                table[i, j] = True
    return table[inverse]


def apply_events(
    covered: np.ndarray,
    ids: pd.Series,
    codes: list[str],
    eventos: pd.DataFrame,
    unidad: str,
    interviewed: np.ndarray | None = None,
) -> np.ndarray:
    """The newest administrative record / contrarreferencia wins over the FIPS answer,
    unless it is dated before the unit's interview (``interviewed``, ISO dates per row):
    then the interview is the newer observation. ``eventos`` holds one (the newest up to
    the cut-off) event per unit and service."""
    if eventos is None or eventos.empty:
        return covered
    ev = eventos[eventos["unidad"] == unidad]
    if ev.empty:
        return covered
    row = positions_of(ev["unidad_id"], ids)
    col = pd.Index(codes).get_indexer(ev["servicio"])
    keep = (row >= 0) & (col >= 0)
    if interviewed is not None and len(interviewed):
        keep &= as_days(ev["fecha"]) >= as_days(np.asarray(interviewed)[np.where(row >= 0, row, 0)])
    covered = covered.copy()
    covered[row[keep], col[keep]] = ev["cubierto"].to_numpy(dtype=bool)[keep]
    return covered


def as_days(values) -> np.ndarray:
    """Dates (ISO text, ``date`` objects or datetime64) as datetime64[D], parsed by Arrow
    as whole arrays (millions of birth dates)."""
    if isinstance(values, date):
        return np.array([values], dtype="datetime64[D]")
    if isinstance(values, pd.Series | pd.Index):
        values = values.array
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return values.astype("datetime64[D]")
    arr = pa.array(values, from_pandas=True)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        try:
            arr = pc.cast(arr, pa.date32())
        except pa.ArrowInvalid:  # not plain ISO dates: pandas parses them
            return pd.to_datetime(pd.Series(np.asarray(values, dtype=object))).to_numpy().astype("datetime64[D]")
    elif pa.types.is_timestamp(arr.type):
        return arr.to_numpy(zero_copy_only=False).astype("datetime64[D]")
    return arr.cast(pa.date32()).to_numpy(zero_copy_only=False).astype("datetime64[D]")


def _year_month_day(values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of each date (text, dates or datetime64), in whole arrays."""
    codes, distinct = pd.factorize(as_days(values).view(np.int64))  # birth dates repeat a lot
    days = np.asarray(distinct, dtype=np.int64).view("datetime64[D]")
    months = days.astype("datetime64[M]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year[codes], month[codes], day[codes]


def ages_in_years(born: pd.Series, at) -> np.ndarray:
    """Completed years at ``at`` (one date, or one per person)."""
    by, bm, bd = _year_month_day(born)
    if isinstance(at, date):
        stamp = pd.Timestamp(at)
        ay, am, ad = stamp.year, stamp.month, stamp.day
    else:
        ay, am, ad = _year_month_day(at)
    years = ay - by
    before_birthday = (bm > am) | ((bm == am) & (bd > ad))
    return (years - before_birthday).astype(np.int16)


@dataclass
class Status:
    """Per-unit applicability, coverage and Logro membership/protection."""

    unidad: str
    codes: list[str]
    aplica: np.ndarray  # (n, s) bool
    cubierto: np.ndarray  # (n, s) bool; only meaningful where aplica
    universo: dict[int, np.ndarray] = field(default_factory=dict)  # logro -> bool (n,)
    protegido: dict[int, np.ndarray] = field(default_factory=dict)
    completo_ampliado: dict[int, np.ndarray] = field(default_factory=dict)

    def estado(self, i: int, code: str) -> str:
        j = self.codes.index(code)
        if not self.aplica[i, j]:
            return "no aplica"
        return "cubierto" if self.cubierto[i, j] else "no cubierto"


def _logros(catalog: Catalogo, status: Status, universe) -> Status:
    """Each Logro of the status' unit type: its universe (``universe(category)``, a mask),
    those protected (every núcleo service that applies covered) and those with the whole
    ampliado package too."""
    met = ~status.aplica | status.cubierto
    for cat in catalog.categorias:
        if cat.universo != status.unidad:
            continue
        in_universe = universe(cat)
        status.universo[cat.logro] = in_universe
        for target, packages in ((status.protegido, ("nucleo",)), (status.completo_ampliado, ("nucleo", "ampliado"))):
            columns = [
                status.codes.index(s.codigo)
                for s in catalog.servicios
                if s.paquete in packages and cat.codigo in s.categorias and s.codigo in status.codes
            ]
            target[cat.logro] = in_universe & met[:, columns].all(axis=1)
    return status


def person_status(
    catalog: Catalogo, personas: pd.DataFrame, eventos: pd.DataFrame, at, interviewed: np.ndarray | None = None
) -> Status:
    """``at``: the date ages refer to, one for all or one per person (the survey date);
    ``interviewed``: each person's household interview date (events before it are ignored)."""
    services = catalog.servicios_de("persona")
    codes = [s.codigo for s in services]
    people = pd.DataFrame(
        {
            "edad": ages_in_years(personas["fecha_nacimiento"], at),
            "sexo": personas["sexo"].astype(str).to_numpy(),
            "embarazada": personas["embarazada"].to_numpy(dtype=bool),
            "discapacidad": personas["discapacidad"].to_numpy(dtype=bool),
            "indigena": personas["indigena"].to_numpy(dtype=bool),
        }
    )
    aplica = (
        np.column_stack([s.aplica.applies(people) for s in services]) if services else np.zeros((len(people), 0), bool)
    )
    cubierto = covered_matrix(personas["servicios"], codes)
    cubierto = apply_events(cubierto, personas["persona_id"], codes, eventos, "persona", interviewed)
    return _logros(catalog, Status("persona", codes, aplica, cubierto), lambda cat: cat.regla.applies(people))


def household_status(catalog: Catalogo, hogares: pd.DataFrame, eventos: pd.DataFrame) -> Status:
    services = catalog.servicios_de("hogar")
    codes = [s.codigo for s in services]
    aplica = np.ones((len(hogares), len(codes)), dtype=bool)
    cubierto = covered_matrix(hogares["servicios"], codes)
    cubierto = apply_events(
        cubierto, hogares["hogar_id"], codes, eventos, "hogar", hogares["fecha_relevamiento"].to_numpy()
    )
    return _logros(catalog, Status("hogar", codes, aplica, cubierto), lambda cat: np.ones(len(hogares), dtype=bool))


def entorno_units(hogares: pd.DataFrame, lugares: pd.DataFrame | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """One entorno per (district, declared localidad); returns units and each household's unit.

    Units carry their reference point (``lon``, ``lat``, ``referencia`` = 'lugar:<id>' or
    'hogar:<id>') and the row of their medoid household (``hogar_ref``), whose district
    keys the entorno shares. Ties are broken by id, so the result depends only on the data.
    """
    from geoportal.geodesia import haversine_km
    from geoportal.nombres import clave

    keys = hogares["codigo_distrito"].astype(str) + "|" + hogares["localidad"].astype(str)
    inverse, codes = pd.factorize(keys, sort=True)
    codes = np.asarray(codes, dtype=object)
    n = len(codes)
    count = np.bincount(inverse, minlength=n)
    urban = np.bincount(inverse, weights=(hogares["zona"] == "urbana").to_numpy(dtype=bool), minlength=n)
    lon, lat = hogares["lon"].to_numpy(dtype=float), hogares["lat"].to_numpy(dtype=float)
    frame = pd.DataFrame({"e": inverse, "lon": lon, "lat": lat})
    median = frame.groupby("e")[["lon", "lat"]].median().to_numpy()
    # Medoid proxy: the household nearest its entorno's median point (ties: first id,
    # households arrive ordered by hogar_id).
    gap = haversine_km(lon, lat, median[inverse, 0], median[inverse, 1])
    medoid = pd.Series(gap).groupby(inverse).idxmin().to_numpy(np.int64) if n else np.zeros(0, np.int64)
    units = pd.DataFrame(
        {
            "entorno_id": codes,
            "lon": lon[medoid] if n else np.zeros(0),
            "lat": lat[medoid] if n else np.zeros(0),
            "referencia": "hogar:" + hogares["hogar_id"].iloc[medoid].astype(str).to_numpy()
            if n
            else np.zeros(0, object),
            "hogar_ref": medoid,
            "zona": np.where(urban * 2 >= count, "urbana", "rural"),
            "hogares": count,
        }
    )
    if lugares is not None and len(lugares) and n:
        polygon = hogares["codigo_2012"].astype(str).to_numpy()[medoid]
        wanted = pd.DataFrame(
            {"u": np.arange(n), "codigo_2012": polygon, "clave": [clave(h.split("|", 1)[1]) for h in codes]}
        )
        cands = wanted.merge(lugares[["lugar_id", "clave", "codigo_2012", "lon", "lat"]], on=["codigo_2012", "clave"])
        if len(cands):
            u = cands["u"].to_numpy()
            cands["km"] = haversine_km(
                cands["lon"].to_numpy(float),
                cands["lat"].to_numpy(float),
                units["lon"].to_numpy()[u],
                units["lat"].to_numpy()[u],
            )
            best = cands[cands["km"] <= LUGAR_MAX_KM].sort_values(["u", "km", "lugar_id"]).drop_duplicates("u")
            rows = best["u"].to_numpy()
            units.loc[rows, "lon"] = best["lon"].to_numpy(float)
            units.loc[rows, "lat"] = best["lat"].to_numpy(float)
            units.loc[rows, "referencia"] = ("lugar:" + best["lugar_id"].astype(str)).to_numpy()
    return units, inverse


def entorno_status(
    catalog: Catalogo,
    units: pd.DataFrame,
    household_of: np.ndarray,
    hogares: pd.DataFrame,
    household_reach: dict[str, np.ndarray],
    eventos: pd.DataFrame | None = None,
) -> Status:
    """``household_reach[code]``: bool per *household*, a point of the service's type within the
    service's catchment of it; the entorno is covered when most of its households are."""
    services = catalog.servicios_de("entorno")
    codes = [s.codigo for s in services]
    n = len(units)
    aplica = np.ones((n, len(codes)), dtype=bool)
    cubierto = np.zeros((n, len(codes)), dtype=bool)
    reported = covered_matrix(hogares["servicios"], codes)
    # A household's own answer about its surroundings is updated by its events too.
    reported = apply_events(
        reported, hogares["hogar_id"], codes, eventos, "hogar", hogares["fecha_relevamiento"].to_numpy()
    )
    size = units["hogares"].to_numpy()
    for j, s in enumerate(services):
        yes = household_reach[s.codigo] if s.origen_estatus == "oferta" else reported[:, j]
        share = np.bincount(household_of, weights=yes, minlength=n) / np.maximum(size, 1)
        cubierto[:, j] = share > ENTORNO_MAJORITY
    return _logros(catalog, Status("entorno", codes, aplica, cubierto), lambda cat: np.ones(n, dtype=bool))
