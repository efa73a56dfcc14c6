"""Feature queries shared by OGC API Features and the downloads.

A *source* is a public table seen as features: the protected coverage of one level
(``publico.cobertura``), the delivery points (``oferta.punto_entrega``) or the territory.
Each builds one SQL statement whose rows are finished GeoJSON features (built by
PostgreSQL, so a value is written once, the same way, in every format that reads it),
plus the plain columns for CSV and GeoPackage. Filters are validated here, so a bad code
or bbox is a 400 problem wherever it is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from api.base.errores import SolicitudIncorrecta
from api.base.publicado import CODIGO_DEPARTAMENTO, CODIGO_DISTRITO, HEAD_COLUMNS, NIVELES, medidas
from geoportal.catalog import default_catalog


@dataclass(frozen=True)
class Filtros:
    bbox: tuple[float, float, float, float] | None = None
    nivel: str | None = None
    departamento: str | None = None
    distrito: str | None = None
    tipo: str | None = None


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None or text == "":
        return None
    parts = text.split(",")
    if len(parts) not in (4, 6):
        raise SolicitudIncorrecta(
            "El parámetro 'bbox' debe tener 4 números separados por comas: "
            "oeste,sur,este,norte (longitud y latitud en grados, CRS84)."
        )
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise SolicitudIncorrecta("El parámetro 'bbox' debe contener solo números: oeste,sur,este,norte.")
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    west, south, east, north = values
    if not all(math.isfinite(v) for v in values):
        raise SolicitudIncorrecta("El parámetro 'bbox' contiene valores no finitos.")
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise SolicitudIncorrecta(
            "El parámetro 'bbox' está fuera del rango de longitud (-180 a 180) o latitud (-90 a 90)."
        )
    if south > north or west > east:
        raise SolicitudIncorrecta(
            "El parámetro 'bbox' está invertido: use oeste,sur,este,norte (oeste ≤ este y sur ≤ norte)."
        )
    return west, south, east, north


def check_codes(filtros: Filtros) -> None:
    if filtros.departamento is not None and not CODIGO_DEPARTAMENTO.match(filtros.departamento):
        raise SolicitudIncorrecta("El parámetro 'departamento' debe ser un código de 2 dígitos (p. ej. 11).")
    if filtros.distrito is not None and not CODIGO_DISTRITO.match(filtros.distrito):
        raise SolicitudIncorrecta("El parámetro 'distrito' debe ser un código de 4 dígitos (p. ej. 1116).")
    if filtros.nivel is not None and filtros.nivel not in NIVELES:
        raise SolicitudIncorrecta(f"El parámetro 'nivel' debe ser uno de: {', '.join(NIVELES)}.")


@dataclass
class Fuente:
    """A public table seen as features."""

    id: str
    titulo: str
    descripcion: str
    tabla: str
    id_col: str
    filtros: tuple[str, ...]
    nivel: str | None = None  # fixed level of a coverage source
    geometria: str = "MultiPolygon"
    extra: dict = field(default_factory=dict)

    def columnas(
        self, conn: psycopg.Connection, medidas_pedidas: list[str] | None = None
    ) -> list[tuple[str, sql.Composable]]:
        """(output name, SQL expression over alias t) of the properties, in order."""
        if self.tabla == "publico.cobertura":
            dictionary = [m.columna for m in medidas(conn)]
            chosen = dictionary if medidas_pedidas is None else medidas_pedidas
            unknown = [m for m in chosen if m not in dictionary]
            if unknown:
                raise SolicitudIncorrecta(
                    f"Medida desconocida: {', '.join(unknown)}. Las medidas publicadas están en /api/medidas."
                )
            return [(c, sql.SQL("t.{}").format(sql.Identifier(c))) for c in (*HEAD_COLUMNS, *chosen)]
        return [(name, sql.SQL(expr)) for name, expr in self.extra["columnas"]]

    def where(self, filtros: Filtros) -> tuple[list[sql.Composable], list]:
        check_codes(filtros)
        for name in ("nivel", "departamento", "distrito", "tipo"):
            if getattr(filtros, name) is not None and name not in self.filtros:
                raise SolicitudIncorrecta(
                    f"La colección '{self.id}' no admite el filtro '{name}' "
                    f"(admite: {', '.join(self.filtros) or 'ninguno'})."
                )
        clauses: list[sql.Composable] = []
        params: list = []
        if self.nivel is not None:
            clauses.append(sql.SQL("t.nivel = %s"))
            params.append(self.nivel)
        if filtros.nivel is not None:
            clauses.append(sql.SQL("t.nivel = %s"))
            params.append(filtros.nivel)
        if filtros.bbox is not None:
            clauses.append(
                sql.SQL(
                    "t.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)"
                    " AND ST_Intersects(t.geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))"
                )
            )
            params += [*filtros.bbox, *filtros.bbox]
        if filtros.tipo is not None:
            clauses.append(sql.SQL("t.tipo = %s"))
            params.append(filtros.tipo)
        for name, table, key in (
            ("departamento", "territorio.departamento", "codigo"),
            ("distrito", "territorio.distrito_cartografico", "codigo_2012"),
        ):
            code = getattr(filtros, name)
            if code is None:
                continue
            clause = self.extra.get(f"filtro_{name}")
            if clause is None:  # spatial: the feature's representative point inside the territory
                clause = f"ST_Intersects((SELECT g.geom FROM {table} g WHERE g.{key} = %s), ST_PointOnSurface(t.geom))"
            clauses.append(sql.SQL(clause))
            params.append(code)
        return clauses, params


def _cobertura(nivel: str | None) -> Fuente:
    filtros = ("departamento", "distrito") if nivel not in ("pais",) else ()
    if nivel is None:
        filtros = ("nivel", "departamento", "distrito")
    extra: dict = {}
    if nivel == "distrito":
        extra = {"filtro_departamento": "t.padre = %s", "filtro_distrito": "t.codigo = %s"}
    elif nivel == "departamento":
        extra = {"filtro_departamento": "t.codigo = %s", "filtro_distrito": "t.codigo = left(%s, 2)"}
    nombre = {"pais": "país", "departamento": "departamento", "distrito": "distrito"}.get(
        nivel or "", f"hexágono H3 resolución {nivel[3:]}" if nivel else "todos los niveles"
    )
    return Fuente(
        id=f"cobertura_{nivel}" if nivel else "cobertura",
        titulo=f"Cobertura protegida por {nombre}" if nivel else "Cobertura protegida (todos los niveles)",
        descripcion=(
            "Cifras protegidas (control de divulgación) de cobertura de los 10 Logros, por servicio, "
            "brechas sin y con oferta al alcance, metas, avance, relevamiento y accesibilidad. "
            "Las áreas reservadas no publican cifras (reservado = true)."
        ),
        tabla="publico.cobertura",
        id_col="codigo",
        filtros=filtros,
        nivel=nivel,
        geometria="MultiPolygon" if nivel in ("pais", "departamento", "distrito") else "Polygon",
        extra=extra,
    )


def tipo_nombres() -> dict[str, str]:
    return {tipo: spec.nombre for tipo, spec in default_catalog().tipos_punto.items()}


def _tipo_case() -> str:
    cases = " ".join(f"WHEN '{t}' THEN '{n.replace(chr(39), chr(39) * 2)}'" for t, n in tipo_nombres().items())
    return f"CASE t.tipo {cases} ELSE t.tipo END"


def fuentes() -> dict[str, Fuente]:
    out = {f.id: f for f in [_cobertura(n) for n in NIVELES]}
    out["cobertura"] = _cobertura(None)
    out["puntos_entrega"] = Fuente(
        id="puntos_entrega",
        titulo="Puntos de entrega de servicios",
        descripcion=(
            "Escuelas, unidades de salud, oficinas del Registro Civil y de Identificaciones y otros "
            "puntos de entrega. origen = real:<fuente> (dato oficial) o sintetico (red de demostración)."
        ),
        tabla="oferta.punto_entrega",
        id_col="punto_id",
        filtros=("departamento", "distrito", "tipo"),
        geometria="Point",
        extra={
            "columnas": [
                ("punto_id", "t.punto_id"),
                ("tipo", "t.tipo"),
                ("tipo_nombre", _tipo_case()),
                ("nombre", "t.nombre"),
                ("institucion", "t.institucion"),
                ("zona", "t.zona"),
                ("distrito", "t.codigo_2012"),
                ("departamento", "left(t.codigo_2012, 2)"),
                ("capacidad", "t.capacidad"),
                ("origen", "t.origen"),
            ],
            "filtro_departamento": "left(t.codigo_2012, 2) = %s",
            "filtro_distrito": "t.codigo_2012 = %s",
        },
    )
    out["departamentos"] = Fuente(
        id="departamentos",
        titulo="Departamentos",
        descripcion="Límites departamentales (INE / DGEEC).",
        tabla="territorio.departamento",
        id_col="codigo",
        filtros=("departamento",),
        extra={"columnas": [("codigo", "t.codigo"), ("nombre", "t.nombre")], "filtro_departamento": "t.codigo = %s"},
    )
    out["distritos"] = Fuente(
        id="distritos",
        titulo="Distritos",
        descripcion="Límites distritales cartográficos (DGEEC 2012; el censo 2022 no publica polígonos).",
        tabla="territorio.distrito_cartografico",
        id_col="codigo_2012",
        filtros=("departamento", "distrito"),
        extra={
            "columnas": [("codigo", "t.codigo_2012"), ("departamento", "t.dpto"), ("nombre", "t.nombre")],
            "filtro_departamento": "t.dpto = %s",
            "filtro_distrito": "t.codigo_2012 = %s",
        },
    )
    return out


def clave(fuente: Fuente) -> tuple[str, ...]:
    """The columns that order a source's features and identify one (its paging key): the
    id, plus the level when one collection holds every level of the coverage."""
    return (
        (fuente.id_col, "nivel") if fuente.tabla == "publico.cobertura" and fuente.nivel is None else (fuente.id_col,)
    )


@dataclass(frozen=True)
class Pagina:
    """Which page: at most ``limite`` features after the key ``despues`` (keyset, the ``next``
    link's cursor), skipping ``saltar`` more (the ``offset`` kept for old clients: only keys
    are skipped, never a feature built)."""

    limite: int
    despues: tuple[str, ...] | None = None
    saltar: int = 0


def feature_sql(
    fuente: Fuente,
    columns: list[tuple[str, sql.Composable]],
    clauses: list[sql.Composable],
    extra_where: sql.Composable | None = None,
    pagina: Pagina | None = None,
) -> tuple[sql.Composed, list]:
    """One GeoJSON feature (text) per row, ordered by the key, and the parameters that follow
    the filters' (the page's). A page first picks its keys from the index (keyset after the
    cursor, OFFSET only over keys), then builds the JSON of those rows alone: a page costs
    the same at any depth."""
    props = sql.SQL(", ").join(sql.SQL("{} AS {}").format(expr, sql.Identifier(name)) for name, expr in columns)
    key = [sql.Identifier(c) for c in clave(fuente)]
    feature = sql.SQL(
        "SELECT json_build_object('type', 'Feature', 'id', t.{id}, 'geometry', ST_AsGeoJSON(t.geom, 6)::json,"
        " 'properties', (SELECT row_to_json(p) FROM (SELECT {props}) p))::text"
    ).format(id=sql.Identifier(fuente.id_col), props=props)
    where = list(clauses) + ([extra_where] if extra_where is not None else [])
    if pagina is None:
        return feature + sql.SQL(" FROM {table} t {where} ORDER BY {order}").format(
            table=sql.SQL(fuente.tabla),
            where=_where(where),
            order=sql.SQL(", ").join(sql.SQL("t.{}").format(k) for k in key),
        ), []
    params: list = []
    if pagina.despues is not None:
        where.append(
            sql.SQL("({}) > ({})").format(
                sql.SQL(", ").join(sql.SQL("t.{}").format(k) for k in key),
                sql.SQL(", ").join(sql.Placeholder() * len(key)),
            )
        )
        params += list(pagina.despues)
    params += [pagina.limite, pagina.saltar]
    # Each row: the feature, then its key (the next page's cursor is the last row's key).
    query = feature + sql.SQL(
        ", {outer} FROM (SELECT {keys} FROM {table} t {where} ORDER BY {keys} LIMIT %s OFFSET %s) pagina"
        " JOIN {table} t ON {join} ORDER BY {order}"
    ).format(
        keys=sql.SQL(", ").join(sql.SQL("t.{}").format(k) for k in key),
        table=sql.SQL(fuente.tabla),
        where=_where(where),
        join=sql.SQL(" AND ").join(sql.SQL("t.{k} = pagina.{k}").format(k=k) for k in key)
        + (sql.SQL(" AND t.nivel = {}").format(sql.Literal(fuente.nivel)) if fuente.nivel else sql.SQL("")),
        order=sql.SQL(", ").join(sql.SQL("pagina.{}").format(k) for k in key),
        outer=sql.SQL(", ").join(sql.SQL("pagina.{}").format(k) for k in key),
    )
    return query, params


def _where(clauses: list[sql.Composable]) -> sql.Composable:
    return sql.SQL("WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("")


def count_sql(fuente: Fuente, clauses: list[sql.Composable]) -> sql.Composed:
    return sql.SQL("SELECT count(*) FROM {table} t {where}").format(
        table=sql.SQL(fuente.tabla),
        where=sql.SQL("WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL(""),
    )


def plain_sql(fuente: Fuente, columns: list[tuple[str, sql.Composable]], clauses: list[sql.Composable]) -> sql.Composed:
    """Plain property columns plus the geometry as WKB (CSV and GeoPackage)."""
    props = sql.SQL(", ").join(sql.SQL("{} AS {}").format(expr, sql.Identifier(name)) for name, expr in columns)
    return sql.SQL("SELECT {props}, ST_AsBinary(t.geom) AS geom_wkb FROM {table} t {where} ORDER BY t.{id}").format(
        props=props,
        table=sql.SQL(fuente.tabla),
        id=sql.Identifier(fuente.id_col),
        where=sql.SQL("WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL(""),
    )
