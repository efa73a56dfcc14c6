"""OGC API – Features, Part 1 (core, GeoJSON, HTML, OpenAPI 3.0) under ``/ogc``.

Written as plain handlers over the protected store (learned from tipg and pygeoapi, not
copied): each collection is an :class:`api.publico.consultas.Fuente`; features are built by
PostgreSQL as GeoJSON, in CRS84 (longitude, latitude), ordered by id and paged by key:
the ``next`` link carries an opaque ``cursor`` (the last key returned), so a deep page
costs what the first one does (``offset`` is still read, skipping keys only). ``limit``
above the maximum is taken as the maximum; an unknown query parameter is a 400. JSON by default; HTML with ``f=html`` or a
browser's ``Accept: text/html``. The OpenAPI document is FastAPI's ``/openapi.json``
(``/ogc/api`` redirects there), which GDAL's OAPIF driver reads.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.base.ajustes import ajustes
from api.base.conexiones import PoolPublico, conexion
from api.base.errores import NoEncontrado, SolicitudIncorrecta
from api.base.plantilla import render
from api.base.publicado import ATRIBUCION, ETIQUETA_SINTETICA, version_o_503
from api.publico.consultas import Filtros, Pagina, clave, count_sql, feature_sql, fuentes, parse_bbox

router = APIRouter(prefix="/ogc", tags=["OGC API Features"])

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
Formato = Literal["json", "html"]
F_QUERY = Query(None, description="Formato de la respuesta: json (por defecto) o html.")


def _wants_html(request: Request, f: str | None) -> bool:
    if f is not None:
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(body: dict, media_type: str = "application/json") -> Response:
    return Response(json.dumps(body, ensure_ascii=False), media_type=media_type)


def _page(plantilla: str, title: str, **datos) -> HTMLResponse:
    """An OGC page in HTML (api/base/templates/ogc_*.html), from the same data as its JSON."""
    return HTMLResponse(
        render(plantilla, titulo=title, etiqueta_sintetica=ETIQUETA_SINTETICA, atribucion=ATRIBUCION, **datos)
    )


def _link(href: str, rel: str, type_: str, title: str) -> dict:
    return {"href": href, "rel": rel, "type": type_, "title": title}


@router.get("", summary="Página de inicio OGC API Features")
def landing(request: Request, f: Formato | None = F_QUERY):
    base = _base(request)
    body = {
        "title": "Geoportal SPS «Vamos!» — OGC API Features",
        "description": "Cifras protegidas de cobertura de protección social, puntos de entrega y territorio. "
        + ETIQUETA_SINTETICA,
        "links": [
            _link(f"{base}/ogc", "self", "application/json", "Esta página"),
            _link(f"{base}/ogc?f=html", "alternate", "text/html", "Esta página en HTML"),
            _link(
                f"{base}/openapi.json",
                "service-desc",
                "application/vnd.oai.openapi+json;version=3.0",
                "Definición OpenAPI 3.0",
            ),
            _link(f"{base}/docs", "service-doc", "text/html", "Documentación de la API"),
            _link(f"{base}/ogc/conformance", "conformance", "application/json", "Clases de conformidad"),
            _link(f"{base}/ogc/collections", "data", "application/json", "Colecciones"),
        ],
    }
    if _wants_html(request, f):
        return _page("ogc_portada.html", body["title"], descripcion=body["description"], enlaces=body["links"])
    return _json(body)


@router.get("/api", summary="Definición OpenAPI (redirige a /openapi.json)")
def api_definition():
    return RedirectResponse("/openapi.json", status_code=307)


@router.get("/conformance", summary="Clases de conformidad")
def conformance(request: Request, f: Formato | None = F_QUERY):
    if _wants_html(request, f):
        return _page("ogc_conformidad.html", "Conformidad", clases=CONFORMANCE)
    return _json({"conformsTo": CONFORMANCE})


def _fuente(collection_id: str):
    table = fuentes()
    if collection_id not in table:
        raise NoEncontrado(f"No existe la colección '{collection_id}'. Colecciones disponibles: {', '.join(table)}.")
    return table[collection_id]


def _collection(base: str, fuente, conn) -> dict:
    clauses, params = fuente.where(Filtros())
    where = " AND ".join(c.as_string(conn) for c in clauses)
    extent = conn.execute(
        f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(t.geom) AS e"
        f" FROM {fuente.tabla} t {'WHERE ' + where if where else ''}) x",
        params,
    ).fetchone()
    url = f"{base}/ogc/collections/{fuente.id}"
    body = {
        "id": fuente.id,
        "title": fuente.titulo,
        "description": fuente.descripcion,
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "links": [
            _link(url, "self", "application/json", "Esta colección"),
            _link(f"{url}?f=html", "alternate", "text/html", "Esta colección en HTML"),
            _link(f"{url}/items", "items", GEOJSON, "Elementos (GeoJSON)"),
            _link(f"{url}/items?f=html", "items", "text/html", "Elementos (HTML)"),
        ],
    }
    if extent and extent[0] is not None:
        body["extent"] = {"spatial": {"bbox": [[round(v, 6) for v in extent]], "crs": CRS84}}
    return body


@router.get("/collections", summary="Colecciones")
def collections(request: Request, publico: PoolPublico, f: Formato | None = F_QUERY):
    base = _base(request)
    with conexion(publico) as conn:
        version_o_503(conn)
        items = [_collection(base, fuente, conn) for fuente in fuentes().values()]
    body = {
        "links": [
            _link(f"{base}/ogc/collections", "self", "application/json", "Colecciones"),
            _link(f"{base}/ogc/collections?f=html", "alternate", "text/html", "Colecciones en HTML"),
        ],
        "collections": items,
    }
    if _wants_html(request, f):
        return _page("ogc_colecciones.html", "Colecciones", colecciones=items)
    return _json(body)


@router.get("/collections/{collectionId}", summary="Una colección")
def collection(
    request: Request, publico: PoolPublico, collectionId: str = Path(..., max_length=64), f: Formato | None = F_QUERY
):
    fuente = _fuente(collectionId)
    with conexion(publico) as conn:
        version_o_503(conn)
        body = _collection(_base(request), fuente, conn)
    if _wants_html(request, f):
        return _page(
            "ogc_coleccion.html", body["title"], descripcion=body["description"], elementos=body["links"][3]["href"]
        )
    return _json(body)


def _features_html(title: str, features: list[dict], links: list[dict]) -> HTMLResponse:
    columns = list(features[0]["properties"]) if features else []
    return _page("ogc_elementos.html", title, elementos=features, enlaces=links, columnas=columns)


# Query parameters each route understands; any other is a 400 naming it (OGC API Features
# /req/core/query-param-unknown), so a client never gets a silently unfiltered answer.
PARAMETROS_ITEMS = frozenset(
    {"bbox", "bbox-crs", "crs", "limit", "offset", "cursor", "nivel", "departamento", "distrito", "tipo", "f"}
)
PARAMETROS_ITEM = frozenset({"crs", "f"})


def _solo_conocidos(request: Request, conocidos: frozenset[str]) -> None:
    unknown = [k for k in dict.fromkeys(request.query_params.keys()) if k not in conocidos]
    if unknown:
        raise SolicitudIncorrecta(
            f"Parámetro desconocido: '{unknown[0]}'. Esta ruta admite: {', '.join(sorted(conocidos))}."
        )
    for name in ("bbox-crs", "crs"):
        value = request.query_params.get(name)
        if value is not None and value not in (CRS84, "OGC:CRS84", "CRS84"):
            raise SolicitudIncorrecta(
                f"El parámetro '{name}' solo admite CRS84 ({CRS84}): longitud y latitud en grados, en ese orden."
            )


def cursor_de(clave: tuple, posicion: int) -> str:
    """The opaque ``cursor`` of a ``next`` link: the last key returned and how many came before."""
    raw = json.dumps({"k": list(clave), "n": posicion}, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def leer_cursor(texto: str, largo: int) -> tuple[tuple[str, ...], int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(texto + "=" * (-len(texto) % 4)))
        key, position = tuple(data["k"]), data["n"]
        valid = (
            len(key) == largo
            and all(isinstance(v, str) and len(v) <= 64 for v in key)
            and isinstance(position, int)
            and not isinstance(position, bool)
            and position >= 0
        )
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise SolicitudIncorrecta(
            "El parámetro 'cursor' no es válido: use el enlace 'next' de la página anterior tal como viene."
        )
    return key, position


@router.get("/collections/{collectionId}/items", summary="Elementos de una colección")
def items(
    request: Request,
    publico: PoolPublico,
    collectionId: str = Path(..., max_length=64),
    bbox: str | None = Query(
        None, max_length=200, description="oeste,sur,este,norte en grados (CRS84), p. ej. -57.8,-25.9,-57.4,-25.5"
    ),
    limit: int = Query(
        100,
        ge=1,
        description="Cantidad máxima de elementos (1 a 10000; un valor mayor se toma como 10000).",
        json_schema_extra={"maximum": 10_000},
    ),
    offset: int = Query(
        0,
        ge=0,
        le=10_000_000,
        description="Elementos a saltar (compatibilidad; el enlace "
        "'next' usa 'cursor', que cuesta lo mismo a cualquier profundidad).",
    ),
    cursor: str | None = Query(None, max_length=400, description="Posición opaca del enlace 'next'."),
    nivel: str | None = Query(None, max_length=20, description="Nivel (solo colección 'cobertura')."),
    departamento: str | None = Query(None, max_length=10, description="Código de departamento (2 dígitos)."),
    distrito: str | None = Query(None, max_length=10, description="Código de distrito (4 dígitos)."),
    tipo: str | None = Query(None, max_length=40, description="Tipo de punto de entrega (solo puntos_entrega)."),
    bbox_crs: str | None = Query(
        None, alias="bbox-crs", max_length=200, description=f"Sistema de referencia del bbox: solo {CRS84}."
    ),
    f: Formato | None = F_QUERY,
):
    _solo_conocidos(request, PARAMETROS_ITEMS)
    fuente = _fuente(collectionId)
    limit = min(limit, ajustes().api_limite_max)
    despues, position = leer_cursor(cursor, len(clave(fuente))) if cursor else (None, 0)
    position += offset
    filtros = Filtros(bbox=parse_bbox(bbox), nivel=nivel, departamento=departamento, distrito=distrito, tipo=tipo)
    clauses, params = fuente.where(filtros)
    with conexion(publico) as conn:
        version = version_o_503(conn)
        columns = fuente.columnas(conn)
        matched = conn.execute(count_sql(fuente, clauses), params).fetchone()[0]
        query, page_params = feature_sql(fuente, columns, clauses, pagina=Pagina(limit, despues, offset))
        rows = conn.execute(query, [*params, *page_params]).fetchall()
    base = _base(request)
    url = f"{base}/ogc/collections/{fuente.id}/items"
    query_args = {k: v for k, v in request.query_params.items() if k not in ("offset", "cursor", "f")}

    def href(fmt: str | None = None, **page: str) -> str:
        return url + "?" + urlencode({**query_args, **page, **({"f": fmt} if fmt else {})})

    here = {k: v for k, v in request.query_params.items() if k in ("offset", "cursor")}
    links = [
        _link(href(**here), "self", GEOJSON, "Esta página"),
        _link(href("html", **here), "alternate", "text/html", "Esta página en HTML"),
        _link(f"{base}/ogc/collections/{fuente.id}", "collection", "application/json", "La colección"),
    ]
    if len(rows) == limit and position + len(rows) < matched:
        following = cursor_de(tuple(rows[-1][1:]), position + len(rows))
        links += [
            _link(href(cursor=following), "next", GEOJSON, "Página siguiente"),
            _link(href("html", cursor=following), "next", "text/html", "Página siguiente (HTML)"),
        ]
    if position > 0:
        links.append(_link(href(offset=str(max(0, position - limit))), "prev", GEOJSON, "Página anterior"))
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if _wants_html(request, f):
        return _features_html(fuente.titulo, [json.loads(r[0]) for r in rows], links)
    head = json.dumps(
        {
            "type": "FeatureCollection",
            "numberMatched": matched,
            "numberReturned": len(rows),
            "timeStamp": stamp,
            "data_version": version["data_version"],
            "links": links,
        },
        ensure_ascii=False,
    )
    text = head[:-1] + ', "features": [' + ",".join(r[0] for r in rows) + "]}"
    return Response(text, media_type=GEOJSON)


@router.get("/collections/{collectionId}/items/{featureId}", summary="Un elemento")
def item(
    request: Request,
    publico: PoolPublico,
    collectionId: str = Path(..., max_length=64),
    featureId: str = Path(..., max_length=64),
    f: Formato | None = F_QUERY,
):
    from psycopg import sql

    _solo_conocidos(request, PARAMETROS_ITEM)
    fuente = _fuente(collectionId)
    clauses, params = fuente.where(Filtros())
    with conexion(publico) as conn:
        version_o_503(conn)
        columns = fuente.columnas(conn)
        query, _ = feature_sql(fuente, columns, clauses, sql.SQL("t.{} = %s").format(sql.Identifier(fuente.id_col)))
        row = conn.execute(query, [*params, featureId]).fetchone()
    if row is None:
        raise NoEncontrado(f"La colección '{fuente.id}' no tiene el elemento '{featureId}'.")
    base = _base(request)
    url = f"{base}/ogc/collections/{fuente.id}/items/{featureId}"
    links = [
        _link(url, "self", GEOJSON, "Este elemento"),
        _link(f"{url}?f=html", "alternate", "text/html", "Este elemento en HTML"),
        _link(f"{base}/ogc/collections/{fuente.id}", "collection", "application/json", "La colección"),
    ]
    feature = json.loads(row[0])
    if _wants_html(request, f):
        return _features_html(f"{fuente.titulo}: {featureId}", [feature], links)
    feature["links"] = links
    return _json(feature, GEOJSON)


def openapi_30(schema: dict) -> dict:
    """FastAPI's OpenAPI 3.1 document rewritten as 3.0.3 (the version OGC API Features
    Part 1 names, and the one GDAL's OAPIF driver and QGIS read): nullable instead of a
    ``null`` type, ``enum`` instead of ``const``, one ``example`` instead of ``examples``,
    boolean exclusive bounds."""

    def fix(node):
        if isinstance(node, list):
            return [fix(x) for x in node]
        if not isinstance(node, dict):
            return node
        node = {k: fix(v) for k, v in node.items()}
        for key in ("anyOf", "oneOf"):
            options = node.get(key)
            if isinstance(options, list) and any(o == {"type": "null"} for o in options):
                rest = [o for o in options if o != {"type": "null"}]
                node.pop(key)
                if len(rest) == 1:
                    node = {**rest[0], **node}
                else:
                    node[key] = rest
                node["nullable"] = True
        if "const" in node:
            node["enum"] = [node.pop("const")]
        if isinstance(node.get("examples"), list) and "type" in node:
            examples = node.pop("examples")
            if examples:
                node["example"] = examples[0]
        for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if isinstance(node.get(bound), (int, float)) and not isinstance(node.get(bound), bool):
                node[plain] = node.pop(bound)
                node[bound] = True
        return node

    out = fix(schema)
    out["openapi"] = "3.0.3"
    return errores_y_bbox(out)


PROBLEMA = {
    "type": "object",
    "description": "Problema (RFC 9457), con el detalle en español.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
BBOX = {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}


def errores_y_bbox(schema: dict) -> dict:
    """What the server really sends, said in the document: a parameter it cannot use is a
    400 ``application/problem+json`` (``api.base.errores``), never FastAPI's 422; ``bbox``
    is 4 or 6 numbers separated by commas (OGC API Features: form style, not exploded)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problema"] = PROBLEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    problem = {
        "description": "Parámetro no válido o desconocido",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problema"}}},
    }
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None or operation.get("parameters"):
                responses.setdefault("400", problem)
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "bbox" and parameter.get("in") == "query":
                    parameter["schema"] = BBOX
                    parameter["style"], parameter["explode"] = "form", False
    return schema
