"""``geoportal calcular``: status -> access -> Logros -> aggregates -> disclosure -> public.

A full run recomputes the country, replaces the calculo tables and publishes a release
(``publico.*``) in one transaction. ``compute_district`` recomputes one 2022 district
(after a contrarreferencia, say): it subtracts the district's stored contribution from
every aggregate it touches and adds the new one (exact), re-protects the touched areas
and their siblings in the live table of authorised roles (``calculo.cobertura_viva``),
and publishes only when a batched release is due (``publish``, ``geoportal publicar``),
re-protecting the whole country then. It never reads the rest of the country otherwise.
"""

from __future__ import annotations

import functools
import hashlib
from concurrent.futures import ThreadPoolExecutor
import json
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

import h3
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql
from psycopg.pq import TransactionStatus

from geoportal import aggregate as agg
from geoportal import disclosure
from geoportal.audit import log_access
from geoportal.access import accessibility
from geoportal.catalog import Catalogo, default_catalog
from geoportal.dbcopy import connect_like, copy_in, copy_out
from geoportal.coverage import ENTORNO_MAJORITY, Units, entorno_status, entorno_units, household_status, person_status
from geoportal.metas import load_targets, target_for
from geoportal.settings import Settings, get_settings

Progress = Callable[[str, float], None]


# Every writer of calculo.agregado / contribucion / cobertura_viva and of a release
# (national computation, district update, publication) takes this session lock: a
# district update is read-modify-write of shared parent rows (department, country), so
# two at once from the CLI and the API would lose one's change. Re-entrant: the API
# holds it around the snapshots, compute_district again, publish inside it again.
WRITER_LOCK = "SELECT pg_advisory_lock(hashtext('geoportal.compute_district'))"
WRITER_UNLOCK = "SELECT pg_advisory_unlock(hashtext('geoportal.compute_district'))"


def serialised(function):
    @functools.wraps(function)
    def wrapper(conn: psycopg.Connection, *args, **kwargs):
        conn.execute(WRITER_LOCK)
        try:
            return function(conn, *args, **kwargs)
        finally:
            status = conn.info.transaction_status
            if status == TransactionStatus.INERROR:
                conn.rollback()
            conn.execute(WRITER_UNLOCK)  # takes effect at once, not at commit
            if status != TransactionStatus.INTRANS:
                conn.commit()  # closes only the unlock's own transaction
    return wrapper


@dataclass
class Timing:
    stages: dict[str, float] = field(default_factory=dict)
    _last: float = field(default_factory=time.perf_counter)

    def mark(self, stage: str) -> None:
        now = time.perf_counter()
        self.stages[stage] = round(now - self._last, 3)
        self._last = now


# ----------------------------------------------------------------------------- measures
def index_in(values: pd.Series, universe: pd.Series) -> np.ndarray:
    """Position of each value in ``universe`` (-1 when absent), hashed by Arrow."""
    found = pc.index_in(pa.array(values.array, type=pa.string(), from_pandas=True),
                        value_set=pa.array(universe.array, type=pa.string(), from_pandas=True))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def ages_reference(fecha_corte: date | None, hogares: pd.DataFrame, of_person: np.ndarray):
    """Ages refer to the cut-off date if given, else to each household's FIPS interview
    (the answers describe the person at that moment)."""
    if fecha_corte is not None:
        return fecha_corte
    return hogares["fecha_relevamiento"].to_numpy()[of_person]


def demand_by_type(catalog: Catalogo, p_status, of_person: np.ndarray, n_households: int) -> dict[str, np.ndarray]:
    """2SFCA demand per household and point type, in the unit of the type's capacity:
    households, or persons to whom one of the type's services applies."""
    demand = {}
    known = of_person >= 0
    for tipo, spec in catalog.tipos_punto.items():
        if spec.demanda == "hogares":
            demand[tipo] = np.ones(n_households)
            continue
        cols = [p_status.codes.index(s.codigo) for s in catalog.servicios if s.punto_tipo == tipo and s.unidad == "persona"]
        wants = p_status.aplica[:, cols].any(axis=1) if cols else np.zeros(len(of_person), bool)
        demand[tipo] = np.bincount(of_person[known], weights=wants[known], minlength=n_households)
    return demand


def unit_measures(catalog: Catalogo, units: Units, secret: str, ratios=None):
    """Per-unit indicators, record keys and fine-cell keys of every unit type."""
    hh = units.hogares.reset_index(drop=True)
    pp = units.personas.reset_index(drop=True)
    counts_order, sums_order = agg.measure_names(catalog)
    urban = (hh["zona"] == "urbana").to_numpy()
    lon, lat = hh["lon"].to_numpy(float), hh["lat"].to_numpy(float)
    polygon = hh["codigo_2012"].where(hh["codigo_2012"] != "", "D" + hh["codigo_distrito"])
    fine_h = pd.DataFrame({
        "codigo_distrito": hh["codigo_distrito"].astype(str).to_numpy(),
        "codigo_2012": polygon.astype(str).to_numpy(),
        "dpto": np.where(polygon.str.startswith("D"), hh["dpto"].astype(str), polygon.str[:2]),
        "h3_8": hh["h3_8"].to_numpy(np.int64) if "h3_8" in hh else agg.h3_cells(lon, lat),
    })
    of_person = index_in(pp["hogar_id"], hh["hogar_id"])

    interviewed = hh["fecha_relevamiento"].to_numpy()
    p_status = person_status(catalog, pp, units.eventos, ages_reference(units.fecha_corte, hh, of_person),
                             interviewed[of_person])
    h_status = household_status(catalog, hh, units.eventos)
    entornos, entorno_of = entorno_units(hh, units.lugares)

    demand = demand_by_type(catalog, p_status, of_person, len(hh))
    access = accessibility(catalog, lon, lat, urban, demand, units.puntos, ratios, cells=fine_h["h3_8"].to_numpy())
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
        dist = access.distancia_km[tipo]
        m.add_sum(f"dist_{tipo}_km_suma", np.where(np.isfinite(dist), dist, 0.0), raw=dist)
        m.add_sum(f"acceso_{tipo}_suma", access.indice_2sfca[tipo])

    # An entorno lies in the fine cell of its reference point, with its medoid household's
    # district keys (the point may fall in a cell where no household lives).
    fine_e = fine_h.iloc[entornos["hogar_ref"].to_numpy()].reset_index(drop=True)
    fine_e["h3_8"] = agg.h3_cells(entornos["lon"].to_numpy(float), entornos["lat"].to_numpy(float))
    cell_of, cells = agg.fine_cells(pd.concat([fine_h, fine_e], ignore_index=True))
    groups = {"hogar": cell_of[:len(hh)], "persona": cell_of[:len(hh)][of_person], "entorno": cell_of[len(hh):]}
    fine = agg.fine_contributions(cells, groups, m, counts_order, sums_order)
    return fine, access.ratio, {"persona": p_status, "hogar": h_status, "entorno": e_status}


# ----------------------------------------------------------------------------- storage
def _wide_table_ddl(table: str, head: list[tuple[str, str]], counts: list[str], sums: list[str],
                    count_type: str = "bigint") -> sql.Composed:
    cols = [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in head]
    cols += [sql.SQL("{} " + count_type).format(sql.Identifier(c)) for c in counts]
    cols += [sql.SQL("{} double precision").format(sql.Identifier(s)) for s in sums]
    return sql.SQL("CREATE TABLE {} ({})").format(sql.SQL(table), sql.SQL(", ").join(cols))


def data_version(conn: psycopg.Connection, settings: Settings, catalog_bytes: bytes, metas_bytes: bytes,
                 fecha_corte: date | None = None) -> tuple[str, dict]:
    """Version and parameters of a computation: every input that changes a published number.

    Data (ingest batches of households, persons and points; status events), the point
    network itself, catalog, targets, the age reference (cut-off), SDC parameters and
    secret (by a fingerprint that does not reveal it) and the code version.
    """
    import geoportal

    # Households, persons and points change only through ingest batches, statuses through
    # events: their identifiers say what changed without counting millions of rows.
    lotes, ultimo, eventos, ultimo_evento = conn.execute(
        "SELECT (SELECT count(*) FROM nominal.lote_ingesta), (SELECT coalesce(max(lote_id), 0) FROM nominal.lote_ingesta),"
        " (SELECT count(*) FROM nominal.estatus_evento), (SELECT coalesce(max(evento_id), 0) FROM nominal.estatus_evento)"
    ).fetchone()
    puntos, red = conn.execute(
        "SELECT count(*), coalesce(md5(string_agg(concat_ws('|', punto_id, tipo, zona, capacidad, lon, lat), ','"
        " ORDER BY punto_id)), '') FROM oferta.punto_entrega").fetchone()
    secret = secret_key(settings)
    parametros = {
        "datos": {"lotes_ingesta": lotes, "ultimo_lote": ultimo, "eventos_estatus": eventos, "ultimo_evento": ultimo_evento},
        "red_de_puntos": {"puntos": puntos, "md5": red},
        "catalogo_sha256": hashlib.sha256(catalog_bytes).hexdigest(),
        "metas_sha256": hashlib.sha256(metas_bytes).hexdigest(),
        "fecha_corte": fecha_corte.isoformat() if fecha_corte else "fecha de relevamiento de cada hogar",
        "control_divulgacion": {"umbral_hogares": settings.umbral_hogares, "base_redondeo": settings.base_redondeo,
                                "clave_huella": hashlib.sha256(("geoportal-sdc|" + secret).encode()).hexdigest()[:8]},
        "codigo": geoportal.__version__,
    }
    digest = hashlib.sha256(json.dumps(parametros, sort_keys=True).encode()).hexdigest()[:16]
    return digest, parametros


def secret_key(settings: Settings) -> str:
    if settings.clave_secreta:
        return settings.clave_secreta
    path = settings.home / "clave_sdc"
    if not path.exists():
        import secrets

        settings.home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(8))
        path.chmod(0o600)
    return path.read_text().strip()


def _names_and_geometry(conn: psycopg.Connection, protected: pd.DataFrame) -> pd.DataFrame:
    """Name, census population and geometry (WKT for H3, joined in SQL for territories)."""
    census = pd.DataFrame(conn.execute(
        "SELECT d.codigo, d.codigo_2012, d.dpto, d.nombre, d.pob_total FROM territorio.distrito d"
    ).fetchall(), columns=["codigo", "codigo_2012", "dpto", "nombre", "pob_total"])
    census["poligono"] = census["codigo_2012"].fillna("D" + census["codigo"])
    pob = {
        "distrito": census.groupby("poligono")["pob_total"].sum(),
        "departamento": census.groupby("dpto")["pob_total"].sum(),
        "pais": pd.Series({"PY": census["pob_total"].sum()}),
    }
    names = {
        "distrito": census.groupby("poligono")["nombre"].agg(lambda s: " / ".join(sorted(s))),
        "departamento": pd.Series(dict(conn.execute("SELECT codigo, nombre FROM territorio.departamento").fetchall())),
        "pais": pd.Series({"PY": "Paraguay"}),
    }
    out = protected.copy()
    out["nombre"] = None
    out["pob_censo"] = pd.array([pd.NA] * len(out), dtype="Int64")
    out["geom_wkb"] = None
    for level in ("distrito", "departamento", "pais"):
        rows = out["nivel"] == level
        out.loc[rows, "nombre"] = out.loc[rows, "codigo"].map(names[level]).to_numpy()
        out.loc[rows, "pob_censo"] = out.loc[rows, "codigo"].map(pob[level]).astype("Int64").to_numpy()
    hexes = out["nivel"].str.startswith("h3_").to_numpy()
    out.loc[hexes, "nombre"] = "Hexágono H3 " + out.loc[hexes, "codigo"]
    out.loc[hexes, "geom_wkb"] = hex_wkb(out.loc[hexes, "codigo"].tolist())
    return out


def hex_wkb(cells: list[str]) -> np.ndarray:
    """Hex-encoded little-endian WKB polygons of H3 cells (lon/lat rounded to 6 decimals),
    built as whole arrays: formatting 177 k WKT strings one by one took 3 s per release."""
    rings = [h3.cell_to_boundary(c) for c in cells]
    out = np.empty(len(cells), dtype=object)
    sizes = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    for n in np.unique(sizes):  # hexagons (6 vertices) and the 12 pentagons (5)
        idx = np.flatnonzero(sizes == n)
        lat_lng = np.array([rings[i] for i in idx], dtype=np.float64).reshape(len(idx), n, 2)
        ring = np.round(np.concatenate([lat_lng, lat_lng[:, :1]], axis=1)[:, :, ::-1], 6)
        record = np.dtype([("orden", "u1"), ("tipo", "<u4"), ("anillos", "<u4"), ("puntos", "<u4"),
                           ("xy", "<f8", (n + 1, 2))])
        wkb = np.empty(len(idx), dtype=record)
        wkb["orden"], wkb["tipo"], wkb["anillos"], wkb["puntos"], wkb["xy"] = 1, 3, 1, n + 1, ring
        text, width = wkb.tobytes().hex(), 2 * record.itemsize
        out[idx] = [text[k * width:(k + 1) * width] for k in range(len(idx))]
    return out


def public_frame(conn, agregado: pd.DataFrame, catalog: Catalogo, settings: Settings, version: str,
                 fine: pd.DataFrame | None = None) -> pd.DataFrame:
    """Protected, named, geo-located rows with shares, means, targets and progress.

    Every row, reserved fine cells included (the live table keeps them; a public release
    drops them, ``LISTED``). ``fine`` enables the cross-hierarchy suppression rules.
    """
    counts, sums = agg.measure_names(catalog)
    T = settings.umbral_hogares
    protected = disclosure.protect(agregado, counts, T, settings.base_redondeo, secret_key(settings),
                                   agg.age_partition(catalog), fine)
    out = _names_and_geometry(conn, protected)
    for cat in catalog.categorias:
        n = cat.logro
        out[f"l{n}_pct"] = disclosure.share(out[f"l{n}_protegidos"], out[f"l{n}_universo"], T)
        out[f"l{n}_ampliado_pct"] = disclosure.share(out[f"l{n}_ampliado"], out[f"l{n}_universo"], T)
    for s in catalog.servicios:
        c = s.codigo.lower()
        out[f"{c}_pct"] = disclosure.share(out[f"{c}_cubiertos"], out[f"{c}_aplica"], T)
    visible = ~out["reservado"].to_numpy()
    for column, mean in disclosure.protected_means(out, sums).items():
        out[column] = np.where(visible, mean, np.nan)
    survey = out["personas"].astype("Float64") / out["pob_censo"].astype("Float64") * 100
    out["relevamiento_pct"] = survey.round(1)
    metas = load_targets(settings.metas)
    for cat in catalog.categorias:
        n = cat.logro
        goal = target_for(metas, n, out["nivel"], out["codigo"].astype(str))
        out[f"l{n}_meta"] = goal
        out[f"l{n}_avance"] = (out[f"l{n}_pct"].astype(float) / goal * 100).round(1)
    out["data_version"] = version
    return out


# A public release lists reserved rows only at these levels (reserved res-7/8 cells: no
# row), and only where households live (a cell holding only a locality's point is not listed).
LISTED = ("(NOT reservado OR (nivel IN ({}) AND EXISTS (SELECT 1 FROM calculo.agregado a"
          " WHERE a.nivel = v.nivel AND a.codigo = v.codigo AND a.hogares > 0)))").format(
    ", ".join(f"'{lv}'" for lv in sorted(disclosure.LISTED_ALWAYS)))


def measure_dictionary(catalog: Catalogo) -> pd.DataFrame:
    rows = [
        ("hogares", "Hogares relevados", "conteo", "hogares", None, None, None),
        ("hogares_urbanos", "Hogares urbanos relevados", "conteo", "hogares", None, None, None),
        ("personas", "Personas relevadas", "conteo", "personas", None, None, None),
        ("entornos", "Localidades (entornos) relevadas", "conteo", "entornos", None, None, None),
        ("relevamiento_pct", "Personas relevadas sobre población censal 2022 (%)", "porcentaje", "%", None, None, None),
    ]
    unit_word = {"persona": "personas", "hogar": "hogares", "entorno": "entornos"}
    for cat in sorted(catalog.categorias, key=lambda c: c.logro):
        n, u = cat.logro, unit_word[cat.universo]
        rows += [
            (f"l{n}_universo", f"Logro {n}: {cat.nombre} identificados", "conteo", u, n, None, None),
            (f"l{n}_protegidos", f"Logro {n}: en protección concurrente (núcleo)", "conteo", u, n, None, "nucleo"),
            (f"l{n}_ampliado", f"Logro {n}: con núcleo y ampliado completos", "conteo", u, n, None, "ampliado"),
            (f"l{n}_pct", f"Logro {n}: cobertura concurrente del paquete núcleo (%)", "porcentaje", "%", n, None, "nucleo"),
            (f"l{n}_ampliado_pct", f"Logro {n}: núcleo + ampliado completos (%)", "porcentaje", "%", n, None, "ampliado"),
            (f"l{n}_meta", f"Logro {n}: meta (%)", "meta", "%", n, None, None),
            (f"l{n}_avance", f"Logro {n}: avance respecto de la meta (%)", "avance", "%", n, None, None),
        ]
    for s in catalog.servicios:
        c, u = s.codigo.lower(), unit_word[s.unidad]
        rows += [
            (f"{c}_aplica", f"{s.nombre}: unidades a las que aplica", "conteo", u, None, s.codigo, s.paquete),
            (f"{c}_cubiertos", f"{s.nombre}: cubiertas", "conteo", u, None, s.codigo, s.paquete),
            (f"{c}_sin_oferta", f"{s.nombre}: brecha sin oferta al alcance (inversión)", "conteo", u, None, s.codigo, s.paquete),
            (f"{c}_con_oferta", f"{s.nombre}: brecha con oferta al alcance (derivación)", "conteo", u, None, s.codigo, s.paquete),
            (f"{c}_pct", f"{s.nombre}: cobertura (%)", "porcentaje", "%", None, s.codigo, s.paquete),
        ]
    for tipo, spec in catalog.tipos_punto.items():
        rows += [
            (f"dist_{tipo}_km", f"Distancia media al {spec.nombre} más cercano (km)", "media", "km", None, None, None),
            (f"acceso_{tipo}", f"Accesibilidad 2SFCA a {spec.nombre} ({spec.capacidad_unidad} por unidad de demanda)", "media", "índice", None, None, None),
        ]
    return pd.DataFrame(rows, columns=["columna", "etiqueta", "tipo", "unidad", "logro", "servicio", "paquete"])


def public_columns(catalog: Catalogo) -> list[tuple[str, str]]:
    types = {"conteo": "integer", "porcentaje": "real", "media": "real", "meta": "real", "avance": "real"}
    return [(r.columna, types[r.tipo]) for r in measure_dictionary(catalog).itertuples()]


PUBLIC_HEAD = [("nivel", "text NOT NULL"), ("codigo", "text NOT NULL"), ("padre", "text"), ("nombre", "text"),
               ("reservado", "boolean NOT NULL"), ("pob_censo", "integer"),
               ("data_version", "text NOT NULL")]


LIVE_HEAD = PUBLIC_HEAD + [("primaria", "boolean NOT NULL")]


def _write_public(cur: psycopg.Cursor, frame: pd.DataFrame, catalog: Catalogo, table: str = "calculo.cobertura_viva") -> None:
    columns = [c for c, _ in LIVE_HEAD] + [c for c, _ in public_columns(catalog)]
    staged = frame[columns + ["geom_wkb"]]
    cur.execute(f"CREATE TEMP TABLE publicar (LIKE {table} INCLUDING DEFAULTS, geom_wkb text) ON COMMIT DROP")
    cur.execute("ALTER TABLE publicar DROP COLUMN geom")
    copy_in(cur, "pg_temp.publicar", staged)
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    cur.execute(sql.SQL(
        "INSERT INTO {table} ({names}, geom) SELECT {names}, CASE"
        " WHEN p.geom_wkb IS NOT NULL THEN ST_GeomFromWKB(decode(p.geom_wkb, 'hex'), 4326)"
        " WHEN p.nivel = 'distrito' THEN (SELECT geom FROM territorio.distrito_cartografico d WHERE d.codigo_2012 = p.codigo)"
        " WHEN p.nivel = 'departamento' THEN (SELECT geom FROM territorio.departamento d WHERE d.codigo = p.codigo)"
        " WHEN p.nivel = 'pais' THEN (SELECT geom FROM territorio.pais) END"
        " FROM pg_temp.publicar p"
    ).format(names=names, table=sql.SQL(table)))
    cur.execute("DROP TABLE pg_temp.publicar")


def _notes(settings: Settings) -> str:
    return (f"Cifras protegidas: se reservan las áreas con menos de {settings.umbral_hogares} hogares, a veces algunas "
            "con pocos más, y las necesarias para que no se deduzcan (los hexágonos finos reservados no se listan); "
            f"los conteos se redondean a múltiplos de {settings.base_redondeo} y los totales son sumas de sus partes "
            f"redondeadas. {disclosure.NOTA_SUMAS} Hogares y personas de la demostración: sintéticos.")


def _record_release(cur, version: str, parametros: dict, settings: Settings, loss: pd.DataFrame) -> None:
    """A public release: no area named, coarse loss in public, exact loss kept internal."""
    cur.execute("UPDATE publico.version SET vigente = false WHERE vigente")
    cur.execute(
        "INSERT INTO publico.version (data_version, ambito, parametros, notas) VALUES (%s, 'pais', %s, %s)"
        " ON CONFLICT (data_version) DO UPDATE SET vigente = true, calculado_en = now(),"
        " parametros = excluded.parametros, notas = excluded.notas",
        (version, json.dumps(parametros), _notes(settings)))
    for table, frame in (("publico.sdc_perdida", disclosure.coarse_loss(loss)), ("calculo.sdc_perdida", loss)):
        cur.execute(f"DELETE FROM {table} WHERE data_version = %s", (version,))
        copy_in(cur, table, frame.assign(data_version=version)[["data_version", *frame.columns]])
    cur.execute("UPDATE calculo.actualizacion SET publicada_en = %s WHERE publicada_en IS NULL", (version,))


def _log_update(cur, version: str, ambito: str, parametros: dict, cambios: int) -> None:
    cur.execute("INSERT INTO calculo.actualizacion (data_version, ambito, parametros, cambios) VALUES (%s, %s, %s, %s)",
                (version, ambito, json.dumps(parametros), int(cambios)))


def _swap_release(cur, catalog: Catalogo, version: str) -> None:
    """Replace the live table by calculo.cobertura_viva_nueva and publish its listed rows.

    Every public row carries the release's version (per-row versions stay internal).
    """
    select = sql.SQL(", ").join(sql.Literal(version) + sql.SQL(" AS data_version") if c == "data_version"
                                else sql.Identifier(c) for c, _ in PUBLIC_HEAD + public_columns(catalog))
    # The release before stays public (publico.cobertura_anterior) for "change since the
    # previous version": anyone could have downloaded it, and the perturbation is built to
    # survive differencing consecutive releases, so keeping it tells nothing new.
    cur.execute("DROP TABLE IF EXISTS calculo.cobertura_viva, publico.cobertura_anterior")
    cur.execute("ALTER TABLE IF EXISTS publico.cobertura RENAME TO cobertura_anterior")
    cur.execute("ALTER TABLE calculo.cobertura_viva_nueva RENAME TO cobertura_viva")
    cur.execute(sql.SQL("CREATE TABLE publico.cobertura AS SELECT {}, geom FROM calculo.cobertura_viva v WHERE {}"
                        " ORDER BY nivel, codigo").format(select, sql.SQL(LISTED)))
    cur.execute("ALTER TABLE publico.cobertura ALTER COLUMN data_version SET NOT NULL,"
                " ALTER COLUMN nivel SET NOT NULL, ALTER COLUMN codigo SET NOT NULL, ALTER COLUMN reservado SET NOT NULL")
    cur.execute("CREATE UNIQUE INDEX ON publico.cobertura (nivel, codigo)")
    cur.execute("CREATE INDEX ON publico.cobertura USING gist (geom)")
    cur.execute("GRANT SELECT ON publico.cobertura TO geoportal_publico")


def release_due(conn: psycopg.Connection, settings: Settings) -> bool:
    """Enough time since the last public release and enough changed records pending."""
    hours, pending = conn.execute(
        "SELECT extract(epoch FROM now() - coalesce((SELECT max(calculado_en) FROM publico.version), '-infinity'))"
        " / 3600, (SELECT coalesce(sum(cambios), 0) FROM calculo.actualizacion WHERE publicada_en IS NULL)").fetchone()
    return pending > 0 and float(hours) >= settings.publicacion_cadencia_horas and pending >= settings.publicacion_min_cambios


@serialised
def publish(conn: psycopg.Connection, catalog: Catalogo | None = None, settings: Settings | None = None,
            forzar: bool = False) -> dict:
    """``geoportal publicar``: a public release of the current figures, nationally re-protected.

    Publishes when ``release_due`` (or ``forzar``) and something is pending; otherwise does
    nothing. The release carries the version of the latest computation.
    """
    catalog = catalog or default_catalog()
    settings = settings or get_settings()
    last = conn.execute("SELECT data_version, parametros, publicada_en FROM calculo.actualizacion"
                        " ORDER BY actualizacion_id DESC LIMIT 1").fetchone()
    if last is None:
        raise LookupError("Todavía no hay un cálculo nacional: ejecute `geoportal calcular` sin --distrito.")
    version, parametros, published = last
    if published is not None or not (forzar or release_due(conn, settings)):
        return {"publicada": False, "data_version": published or
                conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()[0]}
    counts, sums = agg.measure_names(catalog)
    conn.commit()  # idle: the wide tables stream through psql (copy_out), side by side
    with ThreadPoolExecutor(max_workers=1) as pool, connect_like(conn) as other:
        reading = pool.submit(copy_out, other, "SELECT * FROM calculo.agregado ORDER BY nivel, codigo", typed=True)
        # The cross-hierarchy rules need only where the fine cells' households are.
        fine = copy_out(conn, "SELECT codigo_distrito, codigo_2012, dpto, h3_8, hogares FROM calculo.contribucion"
                              " ORDER BY codigo_distrito, codigo_2012, dpto, h3_8", typed=True)
        agregado = reading.result()
    agregado[counts] = agregado[counts].astype(np.int64)
    fine[["h3_8", "hogares"]] = fine[["h3_8", "hogares"]].astype(np.int64)
    public = public_frame(conn, agregado, catalog, settings, version, fine)
    loss = disclosure.information_loss(agregado, public, _public_counts(catalog))
    conn.commit()
    with conn.transaction(), conn.cursor() as cur:
        _build_live(cur, public, catalog)
        _swap_release(cur, catalog, version)
        _record_release(cur, version, parametros, settings, loss)
    return {"publicada": True, "data_version": version, "perdida": loss}


def _public_counts(catalog: Catalogo) -> list[str]:
    return [c for c, t in public_columns(catalog) if t == "integer"]


@serialised
def compute_all(conn: psycopg.Connection, catalog: Catalogo | None = None, settings: Settings | None = None,
                fecha_corte: date | None = None, progress: Progress | None = None) -> dict:
    """Recompute the whole country, replace calculo tables and publish a release, atomically."""
    catalog = catalog or default_catalog()
    settings = settings or get_settings()
    step = progress or (lambda s, f: None)
    timing = Timing()
    step("leyendo hogares y personas", 0.05)
    units = Units.from_db(conn, fecha_corte)
    conn.rollback()
    timing.mark("lectura")
    step("estatus, acceso y Logros", 0.25)
    fine, ratios, _ = unit_measures(catalog, units, secret_key(settings))
    timing.mark("estatus_acceso_logros")
    step("agregando H3 y territorios", 0.6)
    counts, sums = agg.measure_names(catalog)
    agregado = agg.aggregate_levels(fine, counts, sums) if len(fine) else pd.DataFrame(columns=["nivel", "codigo", "padre", *counts, *sums])
    timing.mark("agregacion")
    step("control de divulgación", 0.7)
    version, parametros = data_version(conn, settings, settings.catalogo.read_bytes(), settings.metas.read_bytes(), fecha_corte)
    public = public_frame(conn, agregado, catalog, settings, version, fine)
    loss = disclosure.information_loss(agregado, public, _public_counts(catalog))
    timing.mark("proteccion")
    step("publicando", 0.85)
    conn.commit()
    # The wide tables are built side by side on their own connections (COPY is
    # single-threaded per session), then swapped in with the rest in one transaction:
    # readers see the old publication or the new one, never a mix.
    builders = [
        lambda cur: _build_table(cur, "calculo.contribucion_nueva", _wide_table_ddl(
            "calculo.contribucion_nueva", [(k, "text") for k in agg.FINE_KEYS[:3]] + [("h3_8", "bigint")],
            counts, sums), fine, ["(codigo_distrito)"]),
        lambda cur: _build_table(cur, "calculo.agregado_nuevo", _wide_table_ddl(
            "calculo.agregado_nuevo", [("nivel", "text"), ("codigo", "text"), ("padre", "text")],
            counts, sums), agregado, ["UNIQUE (nivel, codigo)", "(nivel, padre)"]),
        lambda cur: _build_live(cur, public, catalog),
    ]
    with ThreadPoolExecutor(max_workers=len(builders)) as pool:
        for future in [pool.submit(_on_own_connection, conn, build) for build in builders]:
            future.result()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS calculo.contribucion, calculo.agregado")
        cur.execute("ALTER TABLE calculo.contribucion_nueva RENAME TO contribucion")
        cur.execute("ALTER TABLE calculo.agregado_nuevo RENAME TO agregado")
        cur.execute("DELETE FROM calculo.punto_ratio")
        ratio_rows = pd.concat([pd.DataFrame({"punto_id": r.index, "tipo": t, "ratio": r.to_numpy()})
                                for t, r in ratios.items()], ignore_index=True)
        copy_in(cur, "calculo.punto_ratio", ratio_rows)
        cur.execute("DELETE FROM publico.medida")
        dictionary = measure_dictionary(catalog)
        dictionary["logro"] = dictionary["logro"].astype("Int64")
        copy_in(cur, "publico.medida", dictionary)
        _log_update(cur, version, "pais", parametros, len(units.hogares) + len(units.personas))
        _swap_release(cur, catalog, version)
        _record_release(cur, version, parametros, settings, loss)
        log_access(conn, "calcular", "PY", {"data_version": version, "hogares": len(units.hogares)})
    timing.mark("escritura")
    step("listo", 1.0)
    return {"data_version": version, "hogares": len(units.hogares), "personas": len(units.personas),
            "areas": len(agregado), "segundos": timing.stages, "perdida": loss, "publicada": True}


def _on_own_connection(conn: psycopg.Connection, build) -> None:
    with connect_like(conn) as other, other.cursor() as cur:
        build(cur)


def _build_table(cur: psycopg.Cursor, table: str, ddl: sql.Composed, frame: pd.DataFrame, indexes: list[str]) -> None:
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(ddl)
    copy_in(cur, table, frame)
    for index in indexes:
        unique = "UNIQUE " if index.startswith("UNIQUE") else ""
        cur.execute(f"CREATE {unique}INDEX ON {table} {index.removeprefix('UNIQUE ')}")


def _build_live(cur: psycopg.Cursor, public: pd.DataFrame, catalog: Catalogo) -> None:
    """calculo.cobertura_viva_nueva: every protected row (reserved fine cells too), for authorised roles."""
    cur.execute("DROP TABLE IF EXISTS calculo.cobertura_viva_nueva")
    cur.execute(sql.SQL("CREATE TABLE calculo.cobertura_viva_nueva ({}, geom geometry(Geometry, 4326))").format(
        sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t))
                           for n, t in LIVE_HEAD + public_columns(catalog))))
    _write_public(cur, public, catalog, "calculo.cobertura_viva_nueva")
    cur.execute("CREATE UNIQUE INDEX ON calculo.cobertura_viva_nueva (nivel, codigo)")


@serialised
def compute_district(conn: psycopg.Connection, codigo: str, catalog: Catalogo | None = None,
                     settings: Settings | None = None, fecha_corte: date | None = None) -> dict:
    """Recompute one 2022 district: exact aggregates, live protected table, release if due.

    The unprotected aggregates are updated exactly (subtract the stored contribution, add
    the new one). The live table of authorised roles re-protects the touched areas and
    their siblings with the rules within each hierarchy. The public store changes only
    when a batched release is due (``release_due``), and then it is re-protected
    nationally with every rule (``publish``).
    """
    catalog = catalog or default_catalog()
    settings = settings or get_settings()
    timing = Timing()
    exists = conn.execute("SELECT to_regclass('calculo.cobertura_viva') IS NOT NULL").fetchone()[0]
    if not exists:
        raise LookupError("Todavía no hay un cálculo nacional: ejecute `geoportal calcular` sin --distrito.")
    if not conn.execute("SELECT 1 FROM territorio.distrito WHERE codigo = %s", (codigo,)).fetchone():
        raise LookupError(f"Distrito desconocido: {codigo}")
    counts, sums = agg.measure_names(catalog)
    value_columns = counts + sums
    units = Units.from_db(conn, fecha_corte, distrito=codigo)
    ratio_rows = conn.execute("SELECT punto_id, tipo, ratio FROM calculo.punto_ratio").fetchall()
    ratios = {t: g.set_index("punto_id")["ratio"] for t, g in
              pd.DataFrame(ratio_rows, columns=["punto_id", "tipo", "ratio"]).groupby("tipo")}
    timing.mark("lectura")
    if len(units.hogares):
        new, _, _ = unit_measures(catalog, units, secret_key(settings), ratios)
    else:
        new = pd.DataFrame(columns=agg.FINE_KEYS + value_columns)
    timing.mark("estatus_acceso_logros")
    old = copy_out(conn, "SELECT * FROM calculo.contribucion WHERE codigo_distrito = {}", (codigo,), typed=True)
    old["h3_8"] = old["h3_8"].astype(np.int64)
    both = pd.concat([new[agg.FINE_KEYS + value_columns], old[agg.FINE_KEYS + value_columns]], ignore_index=True)
    sign = np.r_[np.ones(len(new)), -np.ones(len(old))]
    fine_key = pd.MultiIndex.from_frame(both[agg.FINE_KEYS])
    _, summed, first = agg.group_sum(pd.factorize(fine_key)[0], both[value_columns].to_numpy(float) * sign[:, None])
    delta = pd.concat([both[agg.FINE_KEYS].iloc[first].reset_index(drop=True),
                       pd.DataFrame(summed, columns=value_columns)], axis=1)
    delta_levels = agg.aggregate_levels(delta, counts, sums)
    # Changed records, at least: the largest number of unit changes of any one count.
    cambios = int(np.abs(np.rint(delta[counts].to_numpy(float))).sum(axis=0).max()) if len(delta) else 0
    timing.mark("delta")

    conn.commit()  # the block below is then a real transaction, committed at its end
    with conn.transaction(), conn.cursor() as cur:
        touched = delta_levels[["nivel", "codigo"]]
        current = _read_keys(cur, "calculo.agregado", touched)
        merged = pd.concat([current.assign(_o=0), delta_levels.assign(_o=1)], ignore_index=True)
        merged["padre"] = merged.groupby(["nivel", "codigo"])["padre"].transform("first")
        updated = merged.groupby(["nivel", "codigo", "padre"], as_index=False, dropna=False)[value_columns].sum()
        for c in counts:
            updated[c] = updated[c].round().astype(np.int64)
        updated = updated[(updated["hogares"] > 0) | (updated["personas"] > 0) | (updated["entornos"] > 0)]
        _delete_keys(cur, "calculo.agregado", touched)
        copy_in(cur, "calculo.agregado", updated[["nivel", "codigo", "padre", *value_columns]])
        cur.execute("DELETE FROM calculo.contribucion WHERE codigo_distrito = %s", (codigo,))
        copy_in(cur, "calculo.contribucion", new[agg.FINE_KEYS + value_columns])
        # Re-protect every area whose sibling group changed (complementary suppression is per group).
        groups = pd.concat([touched.merge(updated[["nivel", "codigo", "padre"]], how="left")[["nivel", "padre"]],
                            current[["nivel", "padre"]]]).dropna().drop_duplicates()
        family = _read_groups(cur, groups)
        version, parametros = data_version(conn, settings, settings.catalogo.read_bytes(), settings.metas.read_bytes(),
                                           fecha_corte)
        live = public_frame(conn, family, catalog, settings, version)
        _delete_keys(cur, "calculo.cobertura_viva", pd.concat([family[["nivel", "codigo"]], touched]).drop_duplicates())
        _write_public(cur, live, catalog)
        _log_update(cur, version, f"distrito {codigo}", parametros, cambios)
        log_access(conn, "calcular", codigo, {"data_version": version, "hogares": len(units.hogares)})
    timing.mark("actualizacion_interna")
    released = publish(conn, catalog, settings)["publicada"]
    timing.mark("publicacion")
    return {"data_version": version, "hogares": len(units.hogares), "personas": len(units.personas),
            "areas_actualizadas": len(family), "segundos": timing.stages, "publicada": released}


def _fetch_frame(cur: psycopg.Cursor) -> pd.DataFrame:
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def _read_frame(conn, query, params=()) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(query, params)
        return _fetch_frame(cur)


def _stage_keys(cur, frame: pd.DataFrame, columns: list[str]) -> None:
    cur.execute("DROP TABLE IF EXISTS pg_temp.claves")
    cur.execute("CREATE TEMP TABLE claves (" + ", ".join(f"{c} text" for c in columns) + ")")
    copy_in(cur, "pg_temp.claves", frame[columns].astype(str))


def _read_keys(cur, table: str, keys: pd.DataFrame) -> pd.DataFrame:
    _stage_keys(cur, keys, ["nivel", "codigo"])
    return copy_out(cur.connection, f"SELECT t.* FROM {table} t JOIN pg_temp.claves k USING (nivel, codigo)"
                                    " ORDER BY t.nivel, t.codigo", typed=True)


def _read_groups(cur, groups: pd.DataFrame) -> pd.DataFrame:
    _stage_keys(cur, groups, ["nivel", "padre"])
    return copy_out(cur.connection, "SELECT t.* FROM calculo.agregado t JOIN pg_temp.claves k USING (nivel, padre)"
                                    " UNION SELECT t.* FROM calculo.agregado t WHERE t.nivel = 'pais'"
                                    " ORDER BY nivel, codigo", typed=True)


def _delete_keys(cur, table: str, keys: pd.DataFrame) -> None:
    _stage_keys(cur, keys, ["nivel", "codigo"])
    cur.execute(f"DELETE FROM {table} t USING pg_temp.claves k WHERE t.nivel = k.nivel AND t.codigo = k.codigo")
