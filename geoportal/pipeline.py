"""``geoportal calcular``: status -> access -> Logros -> aggregates -> disclosure -> public.

(The protected rows and the releases themselves are ``geoportal.publicacion``.)

A full run (``compute_all``) recomputes the country, replaces the calculo tables and
publishes a release (``publico.*``) in one transaction. The incremental update of one
district is ``geoportal.actualizacion``, on the same per-unit measures (``unit_measures``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from geoportal import aggregate as agg
from geoportal import disclosure
from geoportal.accesibilidad import accessibility, nearest_by_type
from geoportal.audit import log_access
from geoportal.catalog import Catalogo, default_catalog
from geoportal.coverage import (
    ENTORNO_MAJORITY,
    Status,
    Units,
    as_days,
    entorno_status,
    entorno_units,
    household_status,
    person_status,
)
from geoportal.dbcopy import binary_session, connect_like, copy_in, ingest
from geoportal.huella import district_sums, fingerprints
from geoportal.progreso import Progreso
from geoportal.publicacion import (
    build_live_apart,
    measure_dictionary,
    public_counts,
    public_frame,
    record_release,
    secret_key,
    serialised,
    swap_release,
)
from geoportal.settings import Settings, get_settings
from geoportal.territory import poligono_publicado


@dataclass
class Timing:
    stages: dict[str, float] = field(default_factory=dict)
    _last: float = field(default_factory=time.perf_counter)

    def mark(self, stage: str) -> None:
        now = time.perf_counter()
        self.stages[stage] = round(now - self._last, 3)
        self._last = now


# ----------------------------------------------------------------------------- measures
def ages_reference(fecha_corte: date | None, hogares: pd.DataFrame, of_person: np.ndarray):
    """Ages refer to the cut-off date if given, else to each household's FIPS interview
    (the answers describe the person at that moment)."""
    if fecha_corte is not None:
        return fecha_corte
    return as_days(hogares["fecha_relevamiento"])[of_person]


def demand_by_type(catalog: Catalogo, p_status, of_person: np.ndarray, n_households: int) -> dict[str, np.ndarray]:
    """2SFCA demand per household and point type, in the unit of the type's capacity:
    households, or persons to whom one of the type's services applies."""
    demand = {}
    known = of_person >= 0
    for tipo, spec in catalog.tipos_punto.items():
        if spec.demanda == "hogares":
            demand[tipo] = np.ones(n_households)
            continue
        cols = [
            p_status.codes.index(s.codigo) for s in catalog.servicios if s.punto_tipo == tipo and s.unidad == "persona"
        ]
        wants = p_status.aplica[:, cols].any(axis=1) if cols else np.zeros(len(of_person), bool)
        demand[tipo] = np.bincount(of_person[known], weights=wants[known], minlength=n_households)
    return demand


@dataclass
class HouseholdSide:
    """What ``unit_measures`` computes from households, points and events alone."""

    fine_h: pd.DataFrame  # fine-cell keys of each household
    status: Status
    entornos: pd.DataFrame
    entorno_of: np.ndarray
    distances: dict[str, np.ndarray]  # nearest point of each type, km


def household_side(catalog: Catalogo, units: Units) -> HouseholdSide:
    """The household side of ``unit_measures``; needs no person (``Units.from_db`` runs it
    while the persons, the largest read, are still arriving)."""
    hh = units.hogares.reset_index(drop=True)
    lon, lat = hh["lon"].to_numpy(float), hh["lat"].to_numpy(float)
    polygon = poligono_publicado(hh["codigo_2012"], hh["codigo_distrito"])
    polygon = polygon.astype(str)  # text columns stay Arrow strings (never millions of Python objects)
    fine_h = pd.DataFrame(
        {
            "codigo_distrito": hh["codigo_distrito"].astype(str),
            "codigo_2012": polygon,
            "dpto": polygon.str[:2].where(~polygon.str.startswith("D"), hh["dpto"].astype(str)),
            "h3_8": hh["h3_8"].to_numpy(np.int64) if "h3_8" in hh else agg.h3_cells(lon, lat),
        }
    )
    entornos, entorno_of = entorno_units(hh, units.lugares)
    return HouseholdSide(
        fine_h,
        household_status(catalog, hh, units.eventos),
        entornos,
        entorno_of,
        nearest_by_type(lon, lat, units.puntos, list(catalog.tipos_punto)),
    )


def unit_measures(catalog: Catalogo, units: Units, ratios=None):
    """Per-unit indicators, record keys and fine-cell keys of every unit type: the fine
    cells' contributions, the accessibility (``Access``: ratios and demand locations too)
    and each unit type's status."""
    hh = units.hogares.reset_index(drop=True)
    pp = units.personas.reset_index(drop=True)
    side = units.adelanto if isinstance(units.adelanto, HouseholdSide) else household_side(catalog, units)
    fine_h, h_status, entornos, entorno_of = side.fine_h, side.status, side.entornos, side.entorno_of
    counts_order, sums_order = agg.measure_names(catalog)
    urban = (hh["zona"] == "urbana").to_numpy()
    lon, lat = hh["lon"].to_numpy(float), hh["lat"].to_numpy(float)
    of_person = units.household_of_persons()

    interviewed = as_days(hh["fecha_relevamiento"])[of_person]
    at = units.fecha_corte if units.fecha_corte is not None else interviewed  # ages_reference
    p_status = person_status(catalog, pp, units.eventos, at, interviewed)

    demand = demand_by_type(catalog, p_status, of_person, len(hh))
    access = accessibility(
        catalog,
        lon,
        lat,
        urban,
        demand,
        units.puntos,
        ratios,
        cells=fine_h["h3_8"].to_numpy(),
        distances=side.distances,
    )
    # Entorno supply is judged where its households live: a point of the type within the
    # service's catchment of each household, then the majority of the localidad.
    household_reach = {s.codigo: access.within_reach(catalog, s.codigo, urban) for s in catalog.servicios_de("entorno")}
    e_status = entorno_status(catalog, entornos, entorno_of, hh, household_reach, units.eventos)
    reach_e = {}
    for s in catalog.servicios_de("entorno"):
        share = np.bincount(entorno_of, weights=household_reach[s.codigo], minlength=len(entornos))
        reach_e[s.codigo] = share > ENTORNO_MAJORITY * np.maximum(entornos["hogares"].to_numpy(), 1)

    m = agg.Measures()
    m.add("hogares", "hogar", np.ones(len(hh), bool))
    m.add("hogares_urbanos", "hogar", urban)
    m.add("personas", "persona", np.ones(len(pp), bool))
    m.add("entornos", "entorno", np.ones(len(entornos), bool))
    by_unit = {"persona": p_status, "hogar": h_status, "entorno": e_status}
    for cat in sorted(catalog.categorias, key=lambda c: c.logro):
        st = by_unit[cat.universo]
        m.add(f"l{cat.logro}_universo", cat.universo, st.universo[cat.logro])
        m.add(f"l{cat.logro}_protegidos", cat.universo, st.protegido[cat.logro])
        m.add(f"l{cat.logro}_ampliado", cat.universo, st.completo_ampliado[cat.logro])
    for s in catalog.servicios:
        st = by_unit[s.unidad]
        j = st.codes.index(s.codigo)
        applies, covered = st.aplica[:, j], st.aplica[:, j] & st.cubierto[:, j]
        if s.unidad == "entorno":
            reach = reach_e[s.codigo]
        else:
            reach_h = access.within_reach(catalog, s.codigo, urban)
            reach = reach_h[of_person] if s.unidad == "persona" else reach_h
        gap = applies & ~covered
        c = s.codigo.lower()
        m.add(f"{c}_aplica", s.unidad, applies)
        m.add(f"{c}_cubiertos", s.unidad, covered)
        m.add(f"{c}_sin_oferta", s.unidad, gap & ~reach)
        m.add(f"{c}_con_oferta", s.unidad, gap & reach)
    for tipo in catalog.tipos_punto:
        # Each person at the engine's nearest-point distance of its household (no point
        # of the type at all: infinitely far, so beyond every threshold).
        far = access.distancia_km[tipo][of_person]
        for km in agg.LEJOS_KM:
            m.add(agg.lejos_column(tipo, km), "persona", far > km)
    for tipo in catalog.tipos_punto:
        dist = access.distancia_km[tipo]
        m.add_sum(f"dist_{tipo}_km_suma", np.where(np.isfinite(dist), dist, 0.0), raw=dist)
        m.add_sum(f"acceso_{tipo}_suma", access.indice_2sfca[tipo])

    # An entorno lies in the fine cell of its reference point, with its medoid household's
    # district keys (the point may fall in a cell where no household lives).
    fine_e = fine_h.iloc[entornos["hogar_ref"].to_numpy()].reset_index(drop=True)
    fine_e["h3_8"] = agg.h3_cells(entornos["lon"].to_numpy(float), entornos["lat"].to_numpy(float))
    cell_of, cells = agg.fine_cells(pd.concat([fine_h, fine_e], ignore_index=True))
    groups = {"hogar": cell_of[: len(hh)], "persona": cell_of[: len(hh)][of_person], "entorno": cell_of[len(hh) :]}
    fine = agg.fine_contributions(cells, groups, m, counts_order, sums_order)
    return fine, access, {"persona": p_status, "hogar": h_status, "entorno": e_status}


# ----------------------------------------------------------------------------- storage
def _wide_table_ddl(table: str, head: list[tuple[str, str]], counts: list[str], sums: list[str]) -> sql.Composed:
    """A wide table of figures: counts as ``integer`` (a country's persons are millions, far
    from 2^31; 4 bytes less per figure in every copy), sums as floats."""
    cols = [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in head]
    cols += [sql.SQL("{} integer").format(sql.Identifier(c)) for c in counts]
    cols += [sql.SQL("{} double precision").format(sql.Identifier(s)) for s in sums]
    return sql.SQL("CREATE TABLE {} ({})").format(sql.SQL(table), sql.SQL(", ").join(cols))


# A district update is computed at the cut-off of the national computation in force
# unless it is asked for the very same one: another would leave the district at one date
# and the rest of the country at another under one release.
EN_VIGOR = "en vigor"
SIN_CORTE = "fecha de relevamiento de cada hogar"


class CorteDistinto(ValueError):
    """A district update asked for a cut-off other than the one of the computation in force."""


def cutoff_label(fecha_corte: date | None) -> str:
    return fecha_corte.isoformat() if fecha_corte else SIN_CORTE


def cutoff_in_force(conn: psycopg.Connection) -> date | None:
    """The cut-off of the last national computation (None: each household's interview date)."""
    row = conn.execute(
        "SELECT parametros->>'fecha_corte' FROM calculo.actualizacion WHERE ambito = 'pais'"
        " ORDER BY actualizacion_id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        raise LookupError("Todavía no hay un cálculo nacional: ejecute `geoportal calcular` sin --distrito.")
    try:
        return date.fromisoformat(row[0])
    except (TypeError, ValueError):
        return None


def district_cutoff(conn: psycopg.Connection, asked) -> date | None:
    in_force = cutoff_in_force(conn)
    if asked is EN_VIGOR or asked == in_force:
        return in_force
    raise CorteDistinto(
        f"El cálculo vigente es a la fecha de corte {cutoff_label(in_force)}; un distrito no puede actualizarse a "
        f"otra ({cutoff_label(asked)}): quedaría a una fecha y el resto del país a otra. Para cambiarla, recalcule "
        "todo el país: `geoportal calcular --fecha-corte AAAA-MM-DD` (o sin --fecha-corte: la fecha de relevamiento "
        "de cada hogar)."
    )


def computation_inputs(
    conn: psycopg.Connection, settings: Settings, catalog_bytes: bytes, metas_bytes: bytes, fecha_corte: date | None
) -> dict:
    """Every input of a computation but the nominal data: the point network, the territory
    (names, census population, outlines, locality points), catalog, targets, the age reference (cut-off),
    SDC parameters and secret (by a fingerprint that does not reveal it), code version."""
    import geoportal

    puntos, red = conn.execute(
        "SELECT count(*), coalesce(md5(string_agg(concat_ws('|', punto_id, tipo, zona, capacidad, lon, lat), ','"
        " ORDER BY punto_id)), '') FROM oferta.punto_entrega"
    ).fetchone()
    territorio = conn.execute(
        "SELECT md5(concat_ws('|',"
        " (SELECT string_agg(concat_ws(',', codigo, codigo_2012, dpto, nombre, pob_total), ';' ORDER BY codigo)"
        "  FROM territorio.distrito),"
        " (SELECT string_agg(concat_ws(',', codigo, nombre, md5(ST_AsBinary(geom))), ';' ORDER BY codigo)"
        "  FROM territorio.departamento),"
        " (SELECT string_agg(md5(ST_AsBinary(geom)), ';' ORDER BY codigo_2012) FROM territorio.distrito_cartografico),"
        " (SELECT string_agg(concat_ws(',', lugar_id, clave, codigo_2012, ST_X(geom), ST_Y(geom)), ';' ORDER BY lugar_id)"
        "  FROM territorio.lugar)))"
    ).fetchone()[0]
    secret = secret_key(settings)
    return {
        "red_de_puntos": {"puntos": puntos, "md5": red},
        "territorio_md5": territorio,
        "catalogo_sha256": hashlib.sha256(catalog_bytes).hexdigest(),
        "metas_sha256": hashlib.sha256(metas_bytes).hexdigest(),
        "fecha_corte": cutoff_label(fecha_corte),
        "control_divulgacion": {
            "umbral_hogares": settings.umbral_hogares,
            "base_redondeo": settings.base_redondeo,
            "clave_huella": hashlib.sha256(("geoportal-sdc|" + secret).encode()).hexdigest()[:8],
        },
        "codigo": geoportal.__version__,
    }


def data_version(settings: Settings, inputs: dict, huellas: dict[str, str]) -> tuple[str, dict]:
    """Version and parameters of the aggregates: changes whenever a published figure can.

    ``huellas`` (district -> ``huella.fingerprints``) is the whole state of
    calculo.agregado, however it was reached (a national computation, district updates):
    the same data and inputs give the same version, any change of either another (the
    2SFCA ratios a district update reuses are the one documented exception). Published
    only as a hash keyed with the SDC secret: nothing countable (no number of events,
    batches or rows) and nothing an outsider can check a guessed dataset against.
    """
    state = json.dumps(sorted(huellas.items())).encode()
    keyed = hmac.new(secret_key(settings).encode(), b"geoportal-datos|" + state, hashlib.sha256).hexdigest()
    parametros = {**inputs, "datos": {"huella": keyed[:16]}}
    digest = hashlib.sha256(json.dumps(parametros, sort_keys=True).encode()).hexdigest()[:16]
    return digest, parametros


def store_fingerprints(cur, huellas: dict[str, str], replace: str | None = None) -> None:
    """All of them (``replace`` None) or one district's (absent when it has no data left)."""
    if replace is None:
        cur.execute("DELETE FROM calculo.huella")
    else:
        cur.execute("DELETE FROM calculo.huella WHERE ambito = %s", (replace,))
        huellas = {replace: huellas[replace]} if replace in huellas else {}
    cur.executemany(
        "INSERT INTO calculo.huella (ambito, huella) VALUES (%s, %s)"
        " ON CONFLICT (ambito) DO UPDATE SET huella = excluded.huella",
        list(huellas.items()),
    )


# The newest computation logged (calculo.actualizacion): every writer of calculo.agregado,
# national or district, logs one in its transaction, under the writers' lock.
LAST_UPDATE = (
    "SELECT actualizacion_id, data_version, calculado_en FROM calculo.actualizacion"
    " ORDER BY actualizacion_id DESC LIMIT 1"
)


def log_update(cur, version: str, ambito: str, parametros: dict, cambios: int) -> tuple:
    """Log a computation; returns its row as ``LAST_UPDATE`` reads it."""
    return cur.execute(
        "INSERT INTO calculo.actualizacion (data_version, ambito, parametros, cambios) VALUES (%s, %s, %s, %s)"
        " RETURNING actualizacion_id, data_version, calculado_en",
        (version, ambito, json.dumps(parametros), int(cambios)),
    ).fetchone()


@serialised
def compute_all(
    conn: psycopg.Connection,
    catalog: Catalogo | None = None,
    settings: Settings | None = None,
    fecha_corte: date | None = None,
    progress: Progreso | None = None,
) -> dict:
    """Recompute the whole country, replace calculo tables and publish a release, atomically."""
    catalog = catalog or default_catalog()
    settings = settings or get_settings()
    step = progress or (lambda s, f: None)
    timing = Timing()
    step("leyendo hogares y personas", 0.05)
    conn.commit()  # idle (the writers' lock is the session's): the reads below are binary COPYs
    with binary_session(conn):  # one ADBC session for this thread's reads (the persons' thread opens its own)
        units = Units.from_db(
            conn, fecha_corte, meanwhile=lambda partial: household_side(catalog, partial), huellas=True
        )
    conn.rollback()
    # The data's fingerprint, from the very rows read (each came with its hash): the
    # version always belongs to the figures computed.
    row_sums = district_sums(units)
    timing.mark("lectura")
    step("estatus, acceso y Logros", 0.25)
    fine, access, _ = unit_measures(catalog, units)
    ratios, places = access.ratio, access.demanda  # not the per-household arrays (memory)
    del access
    n_households, n_persons = len(units.hogares), len(units.personas)
    del units  # the units' frames (gigabytes) are not needed past this point
    timing.mark("estatus_acceso_logros")
    step("agregando H3 y territorios", 0.6)
    counts, sums = agg.measure_names(catalog)
    conn.commit()
    # The exact tables do not wait: each is written on a connection of its own as soon as
    # its frame exists (COPY is single-threaded per session; the server works on the other
    # core while this thread aggregates and protects), then all are swapped in with the
    # rest in one transaction: readers see the old publication or the new one, never a mix.
    # Leaving the block waits for every writer, also when the protection fails.
    with ThreadPoolExecutor(max_workers=3) as writers:
        reading_inputs = writers.submit(
            _on_own_connection,
            conn,
            lambda other: computation_inputs(
                other, settings, settings.catalogo.read_bytes(), settings.metas.read_bytes(), fecha_corte
            ),
        )
        written = [
            writers.submit(
                _on_own_connection,
                conn,
                lambda other: _build_table(
                    other,
                    "calculo.contribucion_nueva",
                    _wide_table_ddl(
                        "calculo.contribucion_nueva",
                        [(k, "text") for k in agg.FINE_KEYS[:3]] + [("h3_8", "bigint")],
                        counts,
                        sums,
                    ),
                    fine,
                    ["(codigo_distrito)"],
                    ("codigo_distrito",),
                ),
            ),
            writers.submit(
                _on_own_connection,
                conn,
                lambda other: _build_table(
                    other,
                    "calculo.demanda_lugar_nueva",
                    _wide_table_ddl(
                        "calculo.demanda_lugar_nueva",
                        [("urbana", "boolean"), ("lon", "double precision"), ("lat", "double precision")],
                        [],
                        list(places.columns[3:]),
                    ),
                    places,
                    [],
                ),
            ),
        ]
        agregado = (
            agg.aggregate_levels(fine, counts, sums)
            if len(fine)
            else pd.DataFrame(columns=["nivel", "codigo", "padre", *counts, *sums])
        )
        timing.mark("agregacion")
        step("control de divulgación", 0.7)
        written.append(
            writers.submit(
                _on_own_connection,
                conn,
                lambda other: _build_table(
                    other,
                    "calculo.agregado_nuevo",
                    _wide_table_ddl(
                        "calculo.agregado_nuevo",
                        [("nivel", "text"), ("codigo", "text"), ("padre", "text")],
                        counts,
                        sums,
                    ),
                    agregado,
                    ["UNIQUE (nivel, codigo)", "(nivel, padre)"],
                    ("nivel", "codigo", "padre"),
                ),
            )
        )
        inputs = reading_inputs.result()
        huellas = fingerprints(row_sums, inputs)
        version, parametros = data_version(settings, inputs, huellas)
        public = public_frame(conn, agregado, catalog, settings, version, parametros, fine)
        conn.commit()
        timing.mark("proteccion")
        step("publicando", 0.85)
        written.append(writers.submit(_on_own_connection, conn, lambda other: build_live_apart(other, public, catalog)))
        loss = disclosure.information_loss(agregado, public, public_counts(catalog))  # while the live table is written
        for future in written:
            future.result()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS calculo.contribucion, calculo.agregado, calculo.demanda_lugar")
        cur.execute("ALTER TABLE calculo.contribucion_nueva RENAME TO contribucion")
        cur.execute("ALTER TABLE calculo.agregado_nuevo RENAME TO agregado")
        cur.execute("ALTER TABLE calculo.demanda_lugar_nueva RENAME TO demanda_lugar")  # behind the ratios
        cur.execute("DELETE FROM calculo.punto_ratio")
        ratio_rows = pd.concat(
            [pd.DataFrame({"punto_id": r.index, "tipo": t, "ratio": r.to_numpy()}) for t, r in ratios.items()],
            ignore_index=True,
        )
        copy_in(cur, "calculo.punto_ratio", ratio_rows)
        cur.execute("DELETE FROM publico.medida")
        dictionary = measure_dictionary(catalog)
        dictionary["logro"] = dictionary["logro"].astype("Int64")
        copy_in(cur, "publico.medida", dictionary)
        log_update(cur, version, "pais", parametros, n_households + n_persons)
        store_fingerprints(cur, huellas)
        swap_release(cur, catalog, version)
        record_release(cur, version, parametros, settings, loss)
        log_access(conn, "calcular", "PY", {"data_version": version, "hogares": n_households})
    timing.mark("escritura")
    step("listo", 1.0)
    return {
        "data_version": version,
        "hogares": n_households,
        "personas": n_persons,
        "areas": len(agregado),
        "segundos": timing.stages,
        "perdida": loss,
        "publicada": True,
        "fecha_corte": cutoff_label(fecha_corte),
    }


def _on_own_connection(conn: psycopg.Connection, work):
    """``work(other)`` on a new connection like ``conn`` (closed after), and its result."""
    with connect_like(conn) as other, binary_session(other):
        return work(other)


def _build_table(
    conn: psycopg.Connection,
    table: str,
    ddl: sql.Composed,
    frame: pd.DataFrame,
    indexes: list[str],
    looked_up: tuple[str, ...] = (),
) -> None:
    """``table`` created, filled by binary COPY and indexed in one transaction on ``conn`` (its own, idle).

    ``looked_up``: the columns its readers select rows by, whose statistics are gathered
    before it is swapped in (a new table has none until autovacuum's next pass, a minute
    later, and the district updates meanwhile ran on the planner's defaults: 20-30 % slower)."""
    create = (f"DROP TABLE IF EXISTS {table}", ddl.as_string(conn))
    index_sql = tuple(
        f"CREATE {'UNIQUE ' if index.startswith('UNIQUE') else ''}INDEX ON {table} {index.removeprefix('UNIQUE ')}"
        for index in indexes
    )
    analyze = (f"ANALYZE {table} ({', '.join(looked_up)})",) if looked_up else ()
    ingest(conn, table, frame, before=create, after=index_sql + analyze)
