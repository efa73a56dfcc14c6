"""Ingest FIPS households, persons, service delivery points and administrative records
(``registros``, status events) into PostGIS.

Guarantees:
- every row read is either loaded (new, updated or unchanged) or quarantined with its
  reason in ``nominal.cuarentena``; ``read = new + updated + unchanged + quarantined``;
- one file is one transaction: a failure half-way leaves the database as it was;
- loading the same file twice changes nothing (same bytes: recognised by SHA-256 and
  skipped; same rows in other bytes: the upsert finds nothing to change).

Rows reach the tables by COPY into a temporary table and one set-based upsert.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import shapely
from psycopg import sql
from pyproj import Transformer

from geoportal.aggregate import h3_cells
from geoportal.audit import log_access
from geoportal.catalog import Catalogo, default_catalog
from geoportal.dbcopy import copy_in
from geoportal.ingest import registros
from geoportal.ingest import validate as v
from geoportal.ingest.readers import FileError, Reading, check_readable, file_sha256, read_rows
from geoportal.progreso import Progreso
from geoportal.settings import get_settings

Kind = Literal["hogares", "personas", "puntos", "registros"]

# UTM 21S: metric distances for the district tolerance (the Chaco is zone 20S; the scale
# error there, < 0.5 %, is irrelevant for a tolerance of a few kilometres).
_TO_METRES = Transformer.from_crs(4326, 32721, always_xy=True)


@dataclass
class Report:
    tipo: str
    archivo: str
    leidas: int = 0
    nuevas: int = 0
    actualizadas: int = 0
    sin_cambio: int = 0
    cuarentena: int = 0
    motivos: dict[str, int] = field(default_factory=dict)
    lote_id: int | None = None
    ya_cargado: bool = False
    sin_unidad: int = 0  # records written for units not loaded yet (they count once loaded)

    @property
    def cargadas(self) -> int:
        return self.nuevas + self.actualizadas + self.sin_cambio

    def cuadra(self) -> bool:
        return self.leidas == self.cargadas + self.cuarentena


@dataclass
class Territory:
    districts: pd.DataFrame  # codigo -> codigo_2012, dpto
    polygons: dict[str, shapely.Geometry]  # codigo_2012 -> polygon
    departments: dict[str, shapely.Geometry]
    country: shapely.Geometry
    tree: shapely.STRtree
    tree_codes: np.ndarray

    @classmethod
    def from_db(cls, conn: psycopg.Connection) -> Territory:
        districts = pd.DataFrame(
            conn.execute("SELECT codigo, codigo_2012, dpto FROM territorio.distrito").fetchall(),
            columns=["codigo", "codigo_2012", "dpto"],
        )
        if districts.empty:
            raise FileError("El territorio no está cargado. Ejecute `geoportal territorio cargar` primero.")
        polys = conn.execute("SELECT codigo_2012, ST_AsBinary(geom) FROM territorio.distrito_cartografico").fetchall()
        depts = conn.execute("SELECT codigo, ST_AsBinary(geom) FROM territorio.departamento").fetchall()
        polygons = {code: shapely.from_wkb(bytes(wkb)) for code, wkb in polys}
        departments = {code: shapely.from_wkb(bytes(wkb)) for code, wkb in depts}
        for geom in [*polygons.values(), *departments.values()]:
            shapely.prepare(geom)
        country = shapely.union_all(list(departments.values()))
        shapely.prepare(country)
        codes = np.array(list(polygons))
        return cls(districts, polygons, departments, country, shapely.STRtree(list(polygons.values())), codes)

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """2012 polygon code containing each point ('' when none)."""
        out = np.full(len(lon), "", dtype=object)
        if len(lon):
            points = shapely.points(lon, lat)
            src, dst = self.tree.query(points, predicate="within")
            out[src] = self.tree_codes[dst]
        return out


def distance_m(geom: shapely.Geometry, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Metric distance from points to a polygon (0 inside)."""
    projected = shapely.transform(geom, lambda xy: np.column_stack(_TO_METRES.transform(xy[:, 0], xy[:, 1])))
    x, y = _TO_METRES.transform(lon, lat)
    return shapely.distance(projected, shapely.points(x, y))


# ----------------------------------------------------------------------------- validation
def _groups(codes: np.ndarray, mask: np.ndarray):
    """(code, row indices) for each code among rows in ``mask``: one sort, not one scan per code."""
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return
    group, uniques = pd.factorize(codes[rows])
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0, True])
    for start, end in itertools.pairwise(bounds):
        yield uniques[group[order[start]]], rows[order[start:end]]


def _check_location(frame, checked, territory: Territory, declared_2012: np.ndarray, dpto: np.ndarray):
    """Coordinates parse, lie in Paraguay and (if declared) in or near their district."""
    lon, lat = v.parse_coordinates(frame, checked)
    tolerance = get_settings().tolerancia_distrito_m
    outside = np.zeros(len(frame), dtype=bool)
    located = np.full(len(frame), "", dtype=object)
    for code, rows in _groups(declared_2012, checked.ok):
        geom = territory.polygons.get(code) if code else None
        geom = geom if geom is not None else territory.departments.get(dpto[rows[0]])
        inside = shapely.contains_xy(geom, lon[rows], lat[rows])
        located[rows[inside]] = code
        outside[rows[~inside]] = True
    v.check_in_paraguay(lon, lat, territory.country, checked, outside)
    rows = np.flatnonzero(outside & checked.ok)
    if rows.size:
        located[rows] = territory.locate(lon[rows], lat[rows])
        for code, sub in _groups(declared_2012[rows], np.ones(len(rows), bool)):
            sub = rows[sub]
            geom = territory.polygons.get(code) if code else None
            geom = geom if geom is not None else territory.departments[dpto[sub[0]]]
            dist = distance_m(geom, lon[sub], lat[sub])
            far = sub[dist > tolerance]
            mask = np.zeros(len(frame), dtype=bool)
            mask[far] = True
            detail = np.full(len(frame), "", dtype=object)
            detail[far] = [
                f"el punto está a {d / 1000:.1f} km del distrito declarado (tolerancia {tolerance / 1000:.1f} km)"
                for d in dist[dist > tolerance]
            ]
            checked.flag(mask, "fuera_del_distrito", detail)
    return lon, lat, located


def _check_zona(frame, checked) -> np.ndarray:
    zona = v.per_unique(frame["zona"], str.lower)
    checked.flag(~v.isin(zona, ["urbana", "rural"]), "valor_invalido", "'zona' debe ser urbana o rural")
    return zona


def _origen(frame, checked, default: str) -> np.ndarray:
    if "origen" not in frame:
        return np.full(len(frame), default, dtype=object)
    origen = v.per_unique(frame["origen"], lambda o: o.lower() or default)
    valid = v.per_unique(
        frame["origen"], lambda o: (o.lower() or default) in ("fips", "sintetico") or o.lower().startswith("real:")
    ).astype(bool)
    checked.flag(~valid, "valor_invalido", "'origen' debe ser fips, sintetico o real:<fuente>")
    return origen


def validate_households(frame: pd.DataFrame, territory: Territory, catalog: Catalogo, today: date):
    checked = v.Checked.empty(len(frame))
    v.check_text(frame, checked)
    required = ["hogar_id", "codigo_distrito", "localidad", "zona", "fecha_relevamiento"]
    v.check_required(frame, required, checked)
    v.check_duplicates(frame["hogar_id"], checked)
    districts = territory.districts.set_index("codigo")
    code = v.per_unique(frame["codigo_distrito"], lambda c: c.zfill(4))
    known = v.isin(code, districts.index)
    checked.flag(
        ~known, "distrito_desconocido", "código de distrito desconocido (se espera el código 2022 de 4 dígitos)"
    )
    declared = np.full(len(frame), "", dtype=object)
    dpto = np.full(len(frame), "", dtype=object)
    declared[known] = districts.loc[code[known], "codigo_2012"].fillna("").to_numpy(dtype=object)
    dpto[known] = districts.loc[code[known], "dpto"].to_numpy(dtype=object)
    zona = _check_zona(frame, checked)
    surveyed, surveyed_iso = v.parse_dates(frame["fecha_relevamiento"])
    bad_date = np.isnat(surveyed) | (surveyed > np.datetime64(today))
    checked.flag(bad_date, "fecha_invalida", "'fecha_relevamiento' no es una fecha válida o está en el futuro")
    servicios = v.parse_service_lists(
        frame.get("servicios", pd.Series([""] * len(frame))), catalog.codigos_fips("hogar"), checked
    )
    origen = _origen(frame, checked, "fips")
    lon, lat, located = _check_location(frame, checked, territory, declared, dpto)
    clean = pd.DataFrame(
        {
            "hogar_id": frame["hogar_id"],
            "codigo_distrito": code,
            "codigo_2012": located,
            "localidad": frame["localidad"],
            # the FIPS address / reference text of the dwelling; optional (older files lack it)
            "referencia": frame.get("referencia", ""),
            "zona": zona,
            "fecha_relevamiento": surveyed_iso,
            "servicios": servicios,
            "origen": origen,
            "lon": lon,
            "lat": lat,
            "h3_8": _cells(lon, lat, checked.ok),
        }
    )
    return clean, checked


def _cells(lon: np.ndarray, lat: np.ndarray, ok: np.ndarray) -> np.ndarray:
    cells = np.zeros(len(lon), dtype=np.int64)
    cells[ok] = h3_cells(lon[ok], lat[ok])
    return cells


def validate_persons(frame: pd.DataFrame, known_households: pa.Array, catalog: Catalogo, today: date):
    checked = v.Checked.empty(len(frame))
    v.check_text(frame, checked)
    required = ["persona_id", "hogar_id", "nombres", "apellidos", "sexo", "fecha_nacimiento"]
    v.check_required(frame, required, checked)
    v.check_duplicates(frame["persona_id"], checked)
    sexo = v.per_unique(frame["sexo"], lambda x: {"MUJER": "F", "HOMBRE": "M"}.get(x.upper(), x.upper()))
    checked.flag(~v.isin(sexo, ["F", "M"]), "valor_invalido", "'sexo' debe ser F o M")
    born, born_iso = v.parse_dates(frame["fecha_nacimiento"])
    checked.flag(np.isnat(born), "fecha_invalida", "'fecha_nacimiento' no es una fecha válida")
    age_days = (np.datetime64(today) - born).astype("timedelta64[D]").astype(float)
    age_bad = ~np.isnat(born) & ((age_days < 0) | (age_days > 120.5 * 365.25))
    checked.flag(age_bad, "edad_fuera_de_rango")
    flags = {f: v.parse_flags(frame, f, checked) for f in ("embarazada", "discapacidad", "indigena")}
    age_years = age_days / 365.25
    implausible = flags["embarazada"] & ((sexo != "F") | (age_years < 9) | (age_years > 60))
    checked.flag(implausible, "valor_invalido", "'embarazada' = si no es posible para el sexo o la edad declarados")
    servicios = v.parse_service_lists(
        frame.get("servicios", pd.Series([""] * len(frame))), catalog.codigos_fips("persona"), checked
    )
    origen = _origen(frame, checked, "fips")
    orphan = ~v.isin(frame["hogar_id"], known_households)
    checked.flag(orphan, "persona_sin_hogar", "el hogar_id no existe en la base (cargue primero los hogares)")
    clean = pd.DataFrame(
        {
            "persona_id": frame["persona_id"],
            "hogar_id": frame["hogar_id"],
            "nombres": frame["nombres"],
            "apellidos": frame["apellidos"],
            "sexo": sexo,
            "fecha_nacimiento": born_iso,
            **flags,
            "servicios": servicios,
            "origen": origen,
        }
    )
    return clean, checked


def validate_points(frame: pd.DataFrame, territory: Territory, catalog: Catalogo):
    checked = v.Checked.empty(len(frame))
    v.check_text(frame, checked)
    required = ["punto_id", "tipo", "nombre", "zona", "capacidad", "origen"]
    v.check_required(frame, required, checked)
    v.check_duplicates(frame["punto_id"], checked)
    tipo = v.per_unique(frame["tipo"], str.lower)
    checked.flag(
        ~v.isin(tipo, catalog.tipos_punto),
        "tipo_desconocido",
        f"tipo desconocido; los válidos son: {', '.join(catalog.tipos_punto)}",
    )
    zona = _check_zona(frame, checked)
    capacidad = pd.to_numeric(frame["capacidad"], errors="coerce").to_numpy(dtype=float)
    checked.flag(
        ~(capacidad > 0) | (capacidad != np.floor(capacidad)),
        "valor_invalido",
        "'capacidad' debe ser un entero mayor que 0",
    )
    origen = frame["origen"].str.lower().to_numpy(dtype=object)
    valid_origin = (origen == "sintetico") | pd.Series(origen).str.match(r"^real:\S+$").to_numpy()
    checked.flag(~valid_origin, "valor_invalido", "'origen' debe ser sintetico o real:<fuente>")
    lon, lat = v.parse_coordinates(frame, checked)
    candidates = checked.ok.copy()
    v.check_in_paraguay(lon, lat, territory.country, checked, candidates)
    located = np.full(len(frame), "", dtype=object)
    rows = np.flatnonzero(checked.ok)
    located[rows] = territory.locate(lon[rows], lat[rows])
    institucion = np.array(
        [catalog.tipos_punto[t].institucion if t in catalog.tipos_punto else "" for t in tipo], dtype=object
    )
    clean = pd.DataFrame(
        {
            "punto_id": frame["punto_id"],
            "tipo": tipo,
            "nombre": frame["nombre"],
            "institucion": institucion,
            "zona": zona,
            "codigo_2012": located,
            "capacidad": np.nan_to_num(capacidad).astype(np.int64),
            "origen": origen,
            "lon": lon,
            "lat": lat,
        }
    )
    return clean, checked


# ----------------------------------------------------------------------------- loading
TARGETS = {
    "hogares": (
        "nominal.hogar",
        "hogar_id",
        [
            ("hogar_id", "text"),
            ("codigo_distrito", "text"),
            ("codigo_2012", "text"),
            ("localidad", "text"),
            ("referencia", "text"),
            ("zona", "text"),
            ("fecha_relevamiento", "date"),
            ("servicios", "text[]"),
            ("origen", "text"),
            ("lon", "float8"),
            ("lat", "float8"),
            ("h3_8", "bigint"),
        ],
    ),
    "personas": (
        "nominal.persona",
        "persona_id",
        [
            ("persona_id", "text"),
            ("hogar_id", "text"),
            ("nombres", "text"),
            ("apellidos", "text"),
            ("sexo", "text"),
            ("fecha_nacimiento", "date"),
            ("embarazada", "boolean"),
            ("discapacidad", "boolean"),
            ("indigena", "boolean"),
            ("servicios", "text[]"),
            ("origen", "text"),
        ],
    ),
    "puntos": (
        "oferta.punto_entrega",
        "punto_id",
        [
            ("punto_id", "text"),
            ("tipo", "text"),
            ("nombre", "text"),
            ("institucion", "text"),
            ("zona", "text"),
            ("codigo_2012", "text"),
            ("capacidad", "integer"),
            ("origen", "text"),
            ("lon", "float8"),
            ("lat", "float8"),
        ],
    ),
}


def household_ids(conn: psycopg.Connection) -> pa.Array:
    """Every loaded hogar_id as an Arrow array (one aggregated value: COPY TO would hand
    the client millions of one-row messages)."""
    text = conn.execute("SELECT string_agg(hogar_id, E'\\n') FROM nominal.hogar").fetchone()[0]
    return pa.array(text.split("\n") if text else [], type=pa.string())


def _merge(cur: psycopg.Cursor, kind: Kind, lote_id: int) -> tuple[int, int]:
    """Insert new ids and update changed rows from the staging table; returns (new, updated).

    Two set-based statements instead of INSERT ... ON CONFLICT: plain inserts are much
    cheaper at millions of rows.
    """
    table, key, columns = TARGETS[kind]
    names = [c for c, _ in columns]
    updatable = [c for c in names if c != key]
    target = sql.SQL(table)
    insert_cols = sql.SQL(", ").join(map(sql.Identifier, [*names, "lote_id"]))
    select_cols = sql.SQL(", ").join(
        [*(sql.SQL("e.{}").format(sql.Identifier(c)) for c in names), sql.Literal(lote_id)]
    )
    cur.execute(sql.SQL("ANALYZE pg_temp.entrada"))
    changed = sql.SQL("({}) IS DISTINCT FROM ({})").format(
        sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in updatable),
        sql.SQL(", ").join(sql.SQL("e.{}").format(sql.Identifier(c)) for c in updatable),
    )
    assignments = sql.SQL(", ").join(
        [
            *(sql.SQL("{} = e.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in updatable),
            sql.SQL("lote_id = {}").format(sql.Literal(lote_id)),
        ]
    )
    cur.execute(
        sql.SQL("UPDATE {} t SET {} FROM pg_temp.entrada e WHERE t.{} = e.{} AND {}").format(
            target, assignments, sql.Identifier(key), sql.Identifier(key), changed
        )
    )
    updated = cur.rowcount
    cur.execute(
        sql.SQL(
            "INSERT INTO {} ({}) SELECT {} FROM pg_temp.entrada e WHERE NOT EXISTS (SELECT 1 FROM {} t WHERE t.{} = e.{})"
        ).format(target, insert_cols, select_cols, target, sql.Identifier(key), sql.Identifier(key))
    )
    return cur.rowcount, updated


def _bulk_load(cur: psycopg.Cursor, kind: Kind, good: pd.DataFrame, lote_id: int) -> int:
    """First load into an empty table: COPY straight in, indexes rebuilt once at the end.

    TRUNCATE of the (empty) table in this transaction lets PostgreSQL skip the WAL
    (wal_level=minimal, as in the embedded cluster) and a sorted index build beats
    millions of incremental insertions. Rolls back with the transaction like any load.
    """
    table, key, _ = TARGETS[kind]
    schema, name = table.split(".")
    cur.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(table)))
    indexes = cur.execute(
        "SELECT i.indexname, i.indexdef, c.conname FROM pg_indexes i LEFT JOIN pg_constraint c"
        " ON c.conname = i.indexname AND c.contype = 'p' WHERE i.schemaname = %s AND i.tablename = %s",
        (schema, name),
    ).fetchall()
    for index, _, constraint in indexes:
        if constraint:
            cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.SQL(table), sql.Identifier(constraint)))
        else:
            cur.execute(sql.SQL("DROP INDEX {}.{}").format(sql.Identifier(schema), sql.Identifier(index)))
    copy_in(cur, table, good.assign(lote_id=lote_id))
    for index, definition, constraint in indexes:
        if constraint:
            cur.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
                    sql.SQL(table), sql.Identifier(constraint), sql.Identifier(key)
                )
            )
        else:
            cur.execute(definition)
    return len(good)


def ingest_file(
    path: Path | str,
    kind: Kind,
    conn: psycopg.Connection,
    catalog: Catalogo | None = None,
    today: date | None = None,
    progress: Progreso | None = None,
) -> Report:
    """Validate and load one file in one transaction; return the report."""
    path = Path(path)
    catalog = catalog or default_catalog()
    today = today or date.today()
    step = progress or (lambda stage, fraction: None)
    report = Report(tipo=kind, archivo=path.name)

    check_readable(path)
    sha = file_sha256(path)
    previous = conn.execute(
        "SELECT lote_id FROM nominal.lote_ingesta WHERE tipo = %s AND sha256 = %s ORDER BY lote_id LIMIT 1",
        (kind, sha),
    ).fetchone()
    conn.rollback()
    step("leyendo", 0.05)
    reading = read_rows(path)
    frame = reading.frame
    report.leidas = reading.rows
    if previous:
        report.ya_cargado, report.lote_id = True, previous[0]
        return _settle_previous(report, conn)

    step("validando", 0.2)
    if kind == "hogares":
        v.require_columns(
            frame,
            ["hogar_id", "codigo_distrito", "localidad", "zona", "fecha_relevamiento", "lat", "lon"],
            kind,
            path.name,
        )
        clean, checked = validate_households(frame, Territory.from_db(conn), catalog, today)
    elif kind == "personas":
        v.require_columns(
            frame, ["persona_id", "hogar_id", "nombres", "apellidos", "sexo", "fecha_nacimiento"], kind, path.name
        )
        known = household_ids(conn)
        clean, checked = validate_persons(frame, known, catalog, today)
    elif kind == "registros":
        v.require_columns(frame, registros.COLUMNS, kind, path.name)
        clean, checked = registros.validate_records(frame, catalog, today)
    else:
        v.require_columns(
            frame, ["punto_id", "tipo", "nombre", "zona", "capacidad", "origen", "lat", "lon"], kind, path.name
        )
        clean, checked = validate_points(frame, Territory.from_db(conn), catalog)
    conn.rollback()

    ok = checked.ok
    report.cuarentena = int((~ok).sum()) + len(reading.malformed)
    motivos = pd.Series([*checked.motivo[~ok], *(["fila_mal_formada"] * len(reading.malformed))])
    report.motivos = motivos.value_counts().to_dict() if report.cuarentena else {}
    good = clean.loc[ok]
    if "codigo_2012" in good:
        good = good.assign(codigo_2012=good["codigo_2012"].replace("", None))

    step("cargando", 0.4)
    with conn.transaction():
        lote_id = conn.execute("SELECT nextval(pg_get_serial_sequence('nominal.lote_ingesta', 'lote_id'))").fetchone()[
            0
        ]
        with conn.cursor() as cur:
            table, _, columns = TARGETS.get(kind, (None, None, None))
            if kind == "registros":
                report.nuevas, report.actualizadas, report.sin_unidad = registros.merge_records(cur, good)
            elif cur.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(sql.SQL(table))).fetchone()[0]:
                report.nuevas, report.actualizadas = _bulk_load(cur, kind, good, lote_id), 0
            else:
                cur.execute(
                    "CREATE TEMP TABLE entrada (" + ", ".join(f"{c} {t}" for c, t in columns) + ") ON COMMIT DROP"
                )
                copy_in(cur, "pg_temp.entrada", good)
                step("actualizando tablas", 0.7)
                report.nuevas, report.actualizadas = _merge(cur, kind, lote_id)

            report.sin_cambio = len(good) - report.nuevas - report.actualizadas
            cur.execute(
                "INSERT INTO nominal.lote_ingesta (lote_id, tipo, archivo, sha256, filas_leidas, filas_nuevas,"
                " filas_actualizadas, filas_sin_cambio, filas_cuarentena) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (
                    lote_id,
                    kind,
                    path.name,
                    sha,
                    report.leidas,
                    report.nuevas,
                    report.actualizadas,
                    report.sin_cambio,
                    report.cuarentena,
                ),
            )
            log_access(
                conn,
                f"ingesta:{kind}",
                detalle={
                    "archivo": path.name,
                    "lote_id": lote_id,
                    "leidas": report.leidas,
                    "cuarentena": report.cuarentena,
                },
            )
            if report.cuarentena:
                copy_in(cur, "nominal.cuarentena", _quarantine(reading, checked, lote_id))
    report.lote_id = lote_id
    step("listo", 1.0)
    return report


def _storable(record: dict) -> str:
    """A quarantined row as JSON; NUL, which jsonb cannot hold, is kept visible as '␀'."""
    return json.dumps({k: str(val).replace("\x00", "\u2400") for k, val in record.items()}, ensure_ascii=False)


def _quarantine(reading: Reading, checked: v.Checked, lote_id: int) -> pd.DataFrame:
    """Quarantine rows: invalid rows with their original text, then the malformed lines."""
    rows = np.flatnonzero(~checked.ok)
    numbers = reading.row_numbers()
    malformed = reading.malformed
    return pd.DataFrame(
        {
            "lote_id": lote_id,
            "fila": [*numbers[rows], *(m.fila for m in malformed)],
            "motivo": [*checked.motivo[rows], *(["fila_mal_formada"] * len(malformed))],
            "detalle": [*checked.detalle[rows], *(m.detalle for m in malformed)],
            "datos": [
                *(_storable(r) for r in reading.frame.iloc[rows].to_dict("records")),
                *(_storable({"texto": m.texto}) for m in malformed),
            ],
        }
    )


def _settle_previous(report: Report, conn: psycopg.Connection) -> Report:
    """Same bytes as an earlier batch: report that batch's quarantine, change nothing."""
    rows = conn.execute(
        "SELECT motivo, count(*) FROM nominal.cuarentena WHERE lote_id = %s GROUP BY motivo", (report.lote_id,)
    ).fetchall()
    conn.rollback()
    report.motivos = {m: int(n) for m, n in rows}
    report.cuarentena = sum(report.motivos.values())
    report.sin_cambio = report.leidas - report.cuarentena
    return report
