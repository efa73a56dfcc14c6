"""The protected store: public rows of a computation and the batched public releases.

``public_frame`` turns exact aggregates into protected, named, geo-located rows (the
disclosure rules of ``geoportal.disclosure``, shares, means, targets); ``build_live`` and
``write_public`` write them (the live table of authorised roles, ``calculo.cobertura_viva``);
``publish`` (``geoportal publicar``) makes a public release of the current aggregates,
re-protected nationally, when one is due (cadence and minimum of changed records).

Every writer of the aggregates and of a release takes one PostgreSQL session lock
(``serialised``): the national computation, each district update and the publication.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from geoportal import aggregate as agg
from geoportal import disclosure, tabla_viva
from geoportal.catalog import Catalogo, default_catalog
from geoportal.dbcopy import connect_like, copy_in, copy_out, ingest
from geoportal.metas import load_targets, targets
from geoportal.settings import Settings, get_settings
from geoportal.territory import poligono_publicado

# Every writer of calculo.agregado / contribucion / cobertura_viva and of a release
# (national computation, district update, publication) takes this session lock: a
# district update is read-modify-write of shared parent rows (department, country), so
# two at once from the CLI and the API would lose one's change. Re-entrant: the API
# holds it around the snapshots, compute_district again, publish inside it again.
WRITER_LOCK = "SELECT pg_advisory_lock(hashtext('geoportal.compute_district'))"
WRITER_UNLOCK = "SELECT pg_advisory_unlock(hashtext('geoportal.compute_district'))"


@contextlib.contextmanager
def writers_lock(conn: psycopg.Connection):
    """Hold the writers' session lock on ``conn`` for the block."""
    conn.execute(WRITER_LOCK)
    try:
        yield conn
    finally:
        status = conn.info.transaction_status
        if status == TransactionStatus.INERROR:
            conn.rollback()
        conn.execute(WRITER_UNLOCK)  # takes effect at once, not at commit
        if status != TransactionStatus.INTRANS:
            conn.commit()  # closes only the unlock's own transaction


def serialised(function):
    """Run ``function(conn, ...)`` holding the writers' lock on ``conn``."""

    @functools.wraps(function)
    def wrapper(conn: psycopg.Connection, *args, **kwargs):
        with writers_lock(conn):
            return function(conn, *args, **kwargs)

    return wrapper


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


def _names(
    conn: psycopg.Connection, nivel: np.ndarray, codigo: np.ndarray
) -> tuple[np.ndarray, pd.api.extensions.ExtensionArray]:
    """Name and census population of each (nivel, codigo) (the geometry is set as the rows
    are written, ``tabla_viva``)."""
    names, population = _territory(
        tuple(conn.execute("SELECT codigo, codigo_2012, dpto, nombre, pob_total FROM territorio.distrito").fetchall()),
        tuple(conn.execute("SELECT codigo, nombre FROM territorio.departamento").fetchall()),
    )
    nombre = np.full(len(nivel), None, dtype=object)
    pob = np.full(len(nivel), np.nan)
    for level in ("distrito", "departamento", "pais"):
        rows = nivel == level
        if rows.any():
            nombre[rows] = names[level].reindex(codigo[rows]).to_numpy(dtype=object, na_value=None)
            pob[rows] = population[level].reindex(codigo[rows]).to_numpy(dtype=float)
    hexes = np.char.startswith(nivel.astype(str), "h3_")
    nombre[hexes] = ["Hexágono H3 " + c for c in codigo[hexes]]
    return nombre, pd.array(pob, dtype="Float64").astype("Int64")


@functools.lru_cache(maxsize=4)
def _territory(districts: tuple, departments: tuple) -> tuple[dict, dict]:
    """Names and census population by level and published code (by the territory's rows:
    the same rows, the same lookups, without grouping them again for each district update)."""
    census = pd.DataFrame(list(districts), columns=["codigo", "codigo_2012", "dpto", "nombre", "pob_total"])
    census["poligono"] = poligono_publicado(census["codigo_2012"], census["codigo"])
    population = {
        "distrito": census.groupby("poligono")["pob_total"].sum(),
        "departamento": census.groupby("dpto")["pob_total"].sum(),
        "pais": pd.Series({"PY": census["pob_total"].sum()}),
    }
    names = {
        "distrito": census.groupby("poligono")["nombre"].agg(lambda s: " / ".join(sorted(s))),
        "departamento": pd.Series(dict(departments), dtype=object),
        "pais": pd.Series({"PY": "Paraguay"}),
    }
    return names, population


# count_families of the catalogue in use: it depends on the catalogue alone and takes a
# tenth of a second, a fifth of a district update's CPU.
_FAMILIES: dict[tuple[int, tuple[str, ...]], tuple[Catalogo, disclosure.Familias]] = {}


def _families(catalog: Catalogo, counts: list[str]):
    key = (id(catalog), tuple(counts))
    kept = _FAMILIES.get(key)
    if kept is None or kept[0] is not catalog:
        kept = (catalog, disclosure.count_families(catalog, counts))
        _FAMILIES.clear()
        _FAMILIES[key] = kept
    return kept[1]


def public_frame(
    conn,
    agregado: pd.DataFrame,
    catalog: Catalogo,
    settings: Settings,
    version: str,
    parametros: dict,
    fine: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Protected, named, geo-located rows with shares, means, targets and progress.

    Every row, reserved fine cells included (the live table keeps them; a public release
    drops them, ``LISTED``). ``fine`` enables the cross-hierarchy suppression rules.
    ``parametros``: the computation's (``pipeline.data_version``), for the rows' ``huella``.
    """
    protected = protected_rows(agregado, catalog, settings, parametros, fine)
    return described(conn, protected.frame(), catalog, settings, version)


def protected_rows(
    agregado: pd.DataFrame,
    catalog: Catalogo,
    settings: Settings,
    parametros: dict,
    fine: pd.DataFrame | None = None,
) -> disclosure.Protected:
    """The protection of every row (``disclosure.protect``) and its ``huella``: a hash
    of what ``frame`` shows of it and of every input the row's other values come from
    (``parametros`` but the data: territory, catalogue, targets, cut-off, code;
    ``tabla_viva.row_hash``). Two rows with the same huella show the same values, so a
    district update describes (names, shares, means, targets: ``described``) only the
    rows whose huella changed."""
    counts, _ = agg.measure_names(catalog)
    protected = disclosure.protect(
        agregado,
        counts,
        settings.umbral_hogares,
        settings.base_redondeo,
        secret_key(settings),
        _families(catalog, counts),
        fine,
    )
    inputs = json.dumps({k: v for k, v in parametros.items() if k != "datos"}, sort_keys=True).encode()
    seed = int.from_bytes(hashlib.blake2b(inputs, digest_size=8).digest(), "little")
    protected.huella = tabla_viva.column_hash(protected.shown(), len(protected.reserved), seed)
    return protected


def described(conn, protected: pd.DataFrame, catalog: Catalogo, settings: Settings, version: str) -> pd.DataFrame:
    """``protected_rows`` named and geo-located, with shares, means, targets and progress."""
    counts, sums = agg.measure_names(catalog)
    T = settings.umbral_hogares
    nivel = protected["nivel"].to_numpy(dtype=object)
    codigo = protected["codigo"].astype(str).to_numpy(dtype=object)
    nombre, pob_censo = _names(conn, nivel, codigo)
    # The counts as one block of reals (NaN where reserved): shares and means select from
    # it (from 400 nullable columns, each selection took milliseconds, even for a few rows).
    numbers = pd.DataFrame(protected[counts].to_numpy(dtype=float, na_value=np.nan), columns=counts)
    pairs = {}
    for cat in catalog.categorias:
        n = cat.logro
        pairs[f"l{n}_pct"] = (f"l{n}_protegidos", f"l{n}_universo")
        pairs[f"l{n}_ampliado_pct"] = (f"l{n}_ampliado", f"l{n}_universo")
    for s in catalog.servicios:
        c = s.codigo.lower()
        pairs[f"{c}_pct"] = (f"{c}_cubiertos", f"{c}_aplica")
    for tipo in catalog.tipos_punto:
        for km in agg.LEJOS_KM:
            far = agg.lejos_column(tipo, km)
            pairs[far + "_pct"] = (far, "personas")
    names = pd.Series(nombre, index=protected.index, dtype=object)
    added = {"nombre": names, "pob_censo": pob_censo, **disclosure.shares(numbers, pairs, T)}
    visible = ~protected["reservado"].to_numpy(dtype=bool)
    for column, mean in disclosure.protected_means(numbers, sums).items():
        added[column] = np.where(visible, mean, np.nan)
    # Survey coverage of the published area: its published (protected) persons over the
    # census 2022 population of the same area. A district row is a 2012 polygon and may
    # hold several 2022 districts (all in its name): the share is of all who live there,
    # not of one district (RELEVAMIENTO; README). H3 cells have no census population.
    with np.errstate(divide="ignore", invalid="ignore"):
        survey = numbers["personas"].to_numpy() / pob_censo.to_numpy(dtype=float, na_value=np.nan) * 100
    added["relevamiento_pct"] = np.round(survey, 1)
    goals = targets(load_targets(settings.metas), [c.logro for c in catalog.categorias], nivel, codigo)
    for n, goal in goals.items():
        added[f"l{n}_meta"] = goal
        with np.errstate(divide="ignore", invalid="ignore"):
            added[f"l{n}_avance"] = np.round(added[f"l{n}_pct"] / goal * 100, 1)
    added["data_version"] = np.full(len(protected), version, dtype=object)
    again = [c for c in added if c in protected]
    kept = protected.drop(columns=again) if again else protected
    return pd.concat([kept, pd.DataFrame(added, index=protected.index)], axis=1)


# A public release lists reserved rows only at these levels (reserved res-7/8 cells: no
# row), and only where households live (a cell holding only a locality's point is not listed).
LISTED = (
    "(NOT reservado OR (nivel IN ({}) AND EXISTS (SELECT 1 FROM calculo.agregado a"
    " WHERE a.nivel = v.nivel AND a.codigo = v.codigo AND a.hogares > 0)))"
).format(", ".join(f"'{lv}'" for lv in sorted(disclosure.LISTED_ALWAYS)))


RELEVAMIENTO = (
    "Cobertura del relevamiento del área publicada: sus personas relevadas (conteo publicado, protegido) sobre "
    "su población del Censo 2022 (pob_censo). Un distrito publicado es un polígono 2012 y puede reunir varios "
    "distritos 2022 (su nombre los nombra a todos): la proporción es de toda la población del área, no de un "
    "distrito; un distrito relevado entero que comparte su polígono con otro no relevado muestra menos de 100 %. "
    "Sin valor en hexágonos H3 (no hay población censal por hexágono) y en áreas reservadas."
)


LEJOS = (
    "Personas relevadas cuyo hogar está a más de esa distancia geodésica (en línea recta sobre la Tierra) del "
    "punto de entrega más cercano del tipo, la misma distancia que usa el motor para el acceso. Conteo protegido "
    "como todos (redondeado con su desplazamiento secreto, nunca mayor que las personas del área); el porcentaje "
    "es sobre las personas publicadas, solo donde estas llegan al umbral. Sin tiempo de viaje: ver README."
)


def measure_dictionary(catalog: Catalogo) -> pd.DataFrame:
    rows = [
        ("hogares", "Hogares relevados", "conteo", "hogares", None, None, None),
        ("hogares_urbanos", "Hogares urbanos relevados", "conteo", "hogares", None, None, None),
        ("personas", "Personas relevadas", "conteo", "personas", None, None, None),
        ("entornos", "Localidades (entornos) relevadas", "conteo", "entornos", None, None, None),
        (
            "relevamiento_pct",
            "Personas relevadas sobre la población censal 2022 del área publicada (%)",
            "porcentaje",
            "%",
            None,
            None,
            None,
        ),
    ]
    unit_word = {"persona": "personas", "hogar": "hogares", "entorno": "entornos"}
    for cat in sorted(catalog.categorias, key=lambda c: c.logro):
        n, u = cat.logro, unit_word[cat.universo]
        rows += [
            (f"l{n}_universo", f"Logro {n}: {cat.nombre} identificados", "conteo", u, n, None, None),
            (f"l{n}_protegidos", f"Logro {n}: en protección concurrente (núcleo)", "conteo", u, n, None, "nucleo"),
            (f"l{n}_ampliado", f"Logro {n}: con núcleo y ampliado completos", "conteo", u, n, None, "ampliado"),
            (
                f"l{n}_pct",
                f"Logro {n}: cobertura concurrente del paquete núcleo (%)",
                "porcentaje",
                "%",
                n,
                None,
                "nucleo",
            ),
            (
                f"l{n}_ampliado_pct",
                f"Logro {n}: núcleo + ampliado completos (%)",
                "porcentaje",
                "%",
                n,
                None,
                "ampliado",
            ),
            (f"l{n}_meta", f"Logro {n}: meta (%)", "meta", "%", n, None, None),
            (f"l{n}_avance", f"Logro {n}: avance respecto de la meta (%)", "avance", "%", n, None, None),
        ]
    for s in catalog.servicios:
        c, u = s.codigo.lower(), unit_word[s.unidad]
        rows += [
            (f"{c}_aplica", f"{s.nombre}: unidades a las que aplica", "conteo", u, None, s.codigo, s.paquete),
            (f"{c}_cubiertos", f"{s.nombre}: cubiertas", "conteo", u, None, s.codigo, s.paquete),
            (
                f"{c}_sin_oferta",
                f"{s.nombre}: brecha sin oferta al alcance (inversión)",
                "conteo",
                u,
                None,
                s.codigo,
                s.paquete,
            ),
            (
                f"{c}_con_oferta",
                f"{s.nombre}: brecha con oferta al alcance (derivación)",
                "conteo",
                u,
                None,
                s.codigo,
                s.paquete,
            ),
            (f"{c}_pct", f"{s.nombre}: cobertura (%)", "porcentaje", "%", None, s.codigo, s.paquete),
        ]
    for tipo, spec in catalog.tipos_punto.items():
        for km in agg.LEJOS_KM:
            far = agg.lejos_column(tipo, km)
            label = f"Personas a más de {km} km del punto más cercano: {spec.nombre}"
            rows += [
                (far, label, "conteo", "personas", None, None, None),
                (far + "_pct", label + " (%)", "porcentaje", "%", None, None, None),
            ]
    for tipo, spec in catalog.tipos_punto.items():
        rows += [
            (f"dist_{tipo}_km", f"Distancia media {al_mas_cercano(spec.nombre)} (km)", "media", "km", None, None, None),
            (
                f"acceso_{tipo}",
                f"Accesibilidad 2SFCA a {spec.nombre} ({spec.capacidad_unidad} por unidad de demanda)",
                "media",
                "índice",
                None,
                None,
                None,
            ),
        ]
    out = pd.DataFrame(rows, columns=["columna", "etiqueta", "tipo", "unidad", "logro", "servicio", "paquete"])
    described = {"relevamiento_pct": RELEVAMIENTO}
    described.update({c: LEJOS for c in out["columna"] if c.startswith("lejos_")})
    out["descripcion"] = out["columna"].map(described).fillna("")
    return out


FEMENINOS = ("unidad", "oficina", "escuela", "casa")  # first words of the point types that take "la"


def al_mas_cercano(nombre: str) -> str:
    """ "a la Unidad de Salud de la Familia más cercana", "al Hospital … más cercano": the
    article and the adjective agree with the point type's name (never "al Unidad")."""
    femenino = nombre.split(" ", 1)[0].casefold() in FEMENINOS
    return f"a la {nombre} más cercana" if femenino else f"al {nombre} más cercano"


def public_columns(catalog: Catalogo) -> list[tuple[str, str]]:
    types = {"conteo": "integer", "porcentaje": "real", "media": "real", "meta": "real", "avance": "real"}
    return [(r.columna, types[r.tipo]) for r in measure_dictionary(catalog).itertuples()]


PUBLIC_HEAD = [
    ("nivel", "text NOT NULL"),
    ("codigo", "text NOT NULL"),
    ("padre", "text"),
    ("nombre", "text"),
    ("reservado", "boolean NOT NULL"),
    ("pob_censo", "integer"),
    ("data_version", "text NOT NULL"),
]


LIVE_HEAD = PUBLIC_HEAD + [("primaria", "boolean NOT NULL"), ("huella", "bigint")]  # tabla_viva


def live_columns(catalog: Catalogo) -> list[str]:
    return [c for c, _ in LIVE_HEAD] + [c for c, _ in public_columns(catalog)]


def write_public(
    cur: psycopg.Cursor, frame: pd.DataFrame, catalog: Catalogo, table: str = "calculo.cobertura_viva"
) -> None:
    """Protected rows (``public_frame``) into the live table ``table``, with their geometry."""
    tabla_viva.copy_rows(cur, table, frame[live_columns(catalog)])


def _notes(settings: Settings) -> str:
    return (
        f"Cifras protegidas: se reservan las áreas con menos de {settings.umbral_hogares} hogares, a veces algunas "
        "con pocos más, y las necesarias para que no se deduzcan (los hexágonos finos reservados no se listan); "
        f"cada conteo se redondea a un múltiplo de {settings.base_redondeo} (las columnas que cuentan las mismas "
        "unidades muestran el mismo valor), ninguna parte supera su total y la última brecha es el resto. "
        f"{disclosure.NOTA_SUMAS} Hogares y personas de la demostración: sintéticos."
    )


def record_release(cur, version: str, parametros: dict, settings: Settings, loss: pd.DataFrame) -> None:
    """A public release: no area named, coarse loss in public, exact loss kept internal."""
    cur.execute("UPDATE publico.version SET vigente = false WHERE vigente")
    cur.execute(
        "INSERT INTO publico.version (data_version, ambito, parametros, notas) VALUES (%s, 'pais', %s, %s)"
        " ON CONFLICT (data_version) DO UPDATE SET vigente = true, calculado_en = now(),"
        " parametros = excluded.parametros, notas = excluded.notas",
        (version, json.dumps(parametros), _notes(settings)),
    )
    for table, frame in (("publico.sdc_perdida", disclosure.coarse_loss(loss)), ("calculo.sdc_perdida", loss)):
        cur.execute(f"DELETE FROM {table} WHERE data_version = %s", (version,))
        copy_in(cur, table, frame.assign(data_version=version)[["data_version", *frame.columns]])
    cur.execute("UPDATE calculo.actualizacion SET publicada_en = %s WHERE publicada_en IS NULL", (version,))
    # Monitoring: the release's published shares (pais, departamento, distrito; reserved
    # areas left out, as in publico.cobertura) kept for good, so each Logro has a series.
    # One (column, value) pair per share column of the dictionary the release has (an
    # unpivot by name: a row to JSON would also turn every district outline into GeoJSON).
    shares = [
        r[0]
        for r in cur.execute(
            "SELECT m.columna FROM publico.medida m WHERE m.tipo = 'porcentaje' AND EXISTS (SELECT 1"
            " FROM information_schema.columns i WHERE i.table_schema = 'publico' AND i.table_name = 'cobertura'"
            " AND i.column_name = m.columna) ORDER BY m.columna"
        ).fetchall()
    ]
    if not shares:
        return
    pairs = sql.SQL(", ").join(sql.SQL("({}, c.{}::real)").format(sql.Literal(c), sql.Identifier(c)) for c in shares)
    cur.execute(
        sql.SQL(
            "INSERT INTO publico.cifra_historia (data_version, fecha, nivel, codigo, columna, valor)"
            " SELECT %s, current_date, c.nivel, c.codigo, x.columna, x.valor"
            " FROM publico.cobertura c CROSS JOIN LATERAL (VALUES {}) x (columna, valor)"
            " WHERE c.nivel IN ('pais', 'departamento', 'distrito') AND NOT c.reservado AND x.valor IS NOT NULL"
            " ON CONFLICT (data_version, nivel, codigo, columna) DO NOTHING"
        ).format(pairs),
        (version,),
    )


def swap_release(cur, catalog: Catalogo, version: str) -> None:
    """Replace the live table by calculo.cobertura_viva_nueva and publish its listed rows.

    Every public row carries the release's version (per-row versions stay internal).
    """
    select = sql.SQL(", ").join(
        sql.Literal(version) + sql.SQL(" AS data_version") if c == "data_version" else sql.Identifier(c)
        for c, _ in PUBLIC_HEAD + public_columns(catalog)
    )
    # The release before stays public (publico.cobertura_anterior) for "change since the
    # previous version": anyone could have downloaded it, and the perturbation is built to
    # survive differencing consecutive releases, so keeping it tells nothing new.
    cur.execute("DROP TABLE IF EXISTS calculo.cobertura_viva, publico.cobertura_anterior")
    cur.execute("ALTER TABLE IF EXISTS publico.cobertura RENAME TO cobertura_anterior")
    cur.execute("ALTER TABLE calculo.cobertura_viva_nueva RENAME TO cobertura_viva")
    cur.execute(
        sql.SQL(
            "CREATE TABLE publico.cobertura AS SELECT {}, geom FROM calculo.cobertura_viva v WHERE {}"
            " ORDER BY nivel, codigo"
        ).format(select, sql.SQL(LISTED))
    )
    cur.execute(
        "ALTER TABLE publico.cobertura ALTER COLUMN data_version SET NOT NULL,"
        " ALTER COLUMN nivel SET NOT NULL, ALTER COLUMN codigo SET NOT NULL, ALTER COLUMN reservado SET NOT NULL"
    )
    cur.execute("CREATE UNIQUE INDEX ON publico.cobertura (nivel, codigo)")
    cur.execute("CREATE INDEX ON publico.cobertura USING gist (geom)")
    cur.execute("GRANT SELECT ON publico.cobertura TO geoportal_publico")


def release_due(conn: psycopg.Connection, settings: Settings) -> bool:
    """Enough time since the last public release and enough changed records pending."""
    hours, pending = conn.execute(
        "SELECT extract(epoch FROM now() - coalesce((SELECT max(calculado_en) FROM publico.version), '-infinity'))"
        " / 3600, (SELECT coalesce(sum(cambios), 0) FROM calculo.actualizacion WHERE publicada_en IS NULL)"
    ).fetchone()
    return (
        pending > 0
        and float(hours) >= settings.publicacion_cadencia_horas
        and pending >= settings.publicacion_min_cambios
    )


@serialised
def publish(
    conn: psycopg.Connection, catalog: Catalogo | None = None, settings: Settings | None = None, forzar: bool = False
) -> dict:
    """``geoportal publicar``: a public release of the current figures, nationally re-protected.

    Publishes when ``release_due`` (or ``forzar``) and something is pending; otherwise does
    nothing. The release carries the version of the latest computation.
    """
    catalog = catalog or default_catalog()
    settings = settings or get_settings()
    last = conn.execute(
        "SELECT data_version, parametros, publicada_en FROM calculo.actualizacion"
        " ORDER BY actualizacion_id DESC LIMIT 1"
    ).fetchone()
    if last is None:
        raise LookupError("Todavía no hay un cálculo nacional: ejecute `geoportal calcular` sin --distrito.")
    version, parametros, published = last
    if published is not None or not (forzar or release_due(conn, settings)):
        return {
            "publicada": False,
            "data_version": published
            or conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()[0],
        }
    counts, sums = agg.measure_names(catalog)
    require_stored_columns(conn, counts + sums)
    conn.commit()  # idle: the wide tables come by binary COPY (copy_out), side by side
    with ThreadPoolExecutor(max_workers=1) as pool, connect_like(conn) as other:
        reading = pool.submit(copy_out, other, "SELECT * FROM calculo.agregado ORDER BY nivel, codigo", typed=True)
        # The cross-hierarchy rules need only where the fine cells' households are.
        fine = copy_out(
            conn,
            "SELECT codigo_distrito, codigo_2012, dpto, h3_8, hogares FROM calculo.contribucion"
            " ORDER BY codigo_distrito, codigo_2012, dpto, h3_8",
            typed=True,
        )
        agregado = reading.result()
    agregado[counts] = agregado[counts].astype(np.int64)
    fine[["h3_8", "hogares"]] = fine[["h3_8", "hogares"]].astype(np.int64)
    public = public_frame(conn, agregado, catalog, settings, version, parametros, fine)
    loss = disclosure.information_loss(agregado, public, public_counts(catalog))
    conn.commit()
    with conn.transaction(), conn.cursor() as cur:
        build_live(cur, public, catalog)
        swap_release(cur, catalog, version)
        record_release(cur, version, parametros, settings, loss)
    return {"publicada": True, "data_version": version, "perdida": loss}


def require_stored_columns(conn: psycopg.Connection, columns: list[str]) -> None:
    """LookupError (Spanish) when the stored aggregates predate a measure of the code or catalogue.

    A new measure (a service added to the catalogue, the distance counts) exists only after
    a national computation: district updates and releases subtract and re-protect the
    stored columns, so they cannot start from a table without it.
    """
    stored = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'calculo' AND table_name = 'agregado'"
        ).fetchall()
    }
    missing = [c for c in columns if c not in stored]
    if stored and missing:
        raise LookupError(
            f"El cálculo guardado no tiene {len(missing)} medida(s) del catálogo o del código actual (p. ej. "
            f"{', '.join(missing[:3])}): ejecute `geoportal calcular` sin --distrito para recalcular todo el país."
        )


def public_counts(catalog: Catalogo) -> list[str]:
    return [c for c, t in public_columns(catalog) if t == "integer"]


def build_live(cur: psycopg.Cursor, public: pd.DataFrame, catalog: Catalogo) -> None:
    """calculo.cobertura_viva_nueva: every protected row (reserved fine cells too), for authorised roles."""
    for statement in _live_ddl(catalog):
        cur.execute(statement)
    write_public(cur, public, catalog, "calculo.cobertura_viva_nueva")
    cur.execute("CREATE UNIQUE INDEX ON calculo.cobertura_viva_nueva (nivel, codigo)")


def build_live_apart(conn: psycopg.Connection, public: pd.DataFrame, catalog: Catalogo) -> None:
    """``build_live`` on a connection of its own (idle), in one transaction, by binary COPY
    (the cells' geometry as EWKB bytes, the territories' set after)."""
    ingest(
        conn,
        "calculo.cobertura_viva_nueva",
        tabla_viva.with_geometry(public[live_columns(catalog)], as_hex=False),
        before=tuple(c.as_string(conn) for c in _live_ddl(catalog)),
        after=(
            tabla_viva.territory_geometry("calculo.cobertura_viva_nueva").as_string(conn),
            "CREATE UNIQUE INDEX ON calculo.cobertura_viva_nueva (nivel, codigo)",
            "ANALYZE calculo.cobertura_viva_nueva (nivel, codigo)",  # as pipeline._build_table's looked_up
        ),
    )


def _live_ddl(catalog: Catalogo) -> list[sql.Composable]:
    return [
        sql.SQL("DROP TABLE IF EXISTS calculo.cobertura_viva_nueva"),
        sql.SQL("CREATE TABLE calculo.cobertura_viva_nueva ({}, geom geometry(Geometry, 4326))").format(
            sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in LIVE_HEAD + public_columns(catalog)
            )
        ),
    ]
