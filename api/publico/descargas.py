"""Downloads: ``GET /descargas/{capa}.{geojson|csv|gpkg}`` and the CSV's dictionary.

Every value comes from the protected store, read with a server-side cursor in chunks, so
a national H3 resolution-8 download never sits in memory at once: GeoJSON and CSV are
streamed as they are read; a GeoPackage is written chunk by chunk (pyogrio, append) to a
temporary file and then sent.

Formats
-------
* GeoJSON (RFC 7946, CRS84): foreign members ``data_version``, ``atribucion``,
  ``nota_sdc`` (the disclosure-control note of the version) and ``datos``.
* CSV for Excel in Spanish: UTF-8 with BOM, ``;`` separator, decimal comma, Spanish
  headers (``publico.medida.etiqueta``), ``sí``/``no``, empty cell for a reserved or
  missing value; a representative point (longitud/latitud, and the same point as a ``WKT``
  column, which QGIS and GDAL read as the geometry without options) instead of the geometry.
  Text that would start a formula (``= + - @``, tab, CR) gets a leading apostrophe.
  The companion ``/descargas/{capa}/diccionario.csv`` lists each column with its meaning
  and unit, preceded by the version, attribution, SDC note and synthetic-data label.
* GeoPackage 1.2 (read without warnings by GDAL 3.6 / Debian 12): the layer plus tables
  ``diccionario`` and ``metadatos``; the same notes as layer metadata.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Literal

import psycopg
from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, StreamingResponse
from starlette.background import BackgroundTask

from api.base.conexiones import PoolPublico, conexion
from api.base.errores import NoEncontrado, SolicitudIncorrecta
from api.base.hojas import BOM, MEDIA_TYPE, csv_line
from api.base.publicado import ATRIBUCION, ETIQUETA_SINTETICA, NIVELES, medidas, version_o_503
from api.publico.consultas import Filtros, Fuente, _cobertura, feature_sql, fuentes, plain_sql

router = APIRouter(tags=["descargas"])

CHUNK = 5000
HEAD_LABELS = {
    "nivel": "Nivel",
    "codigo": "Código",
    "padre": "Código del área superior",
    "nombre": "Nombre",
    "reservado": "Reservado (control de divulgación)",
    "pob_censo": "Población censo 2022",
    "data_version": "Versión de datos",
    "punto_id": "Identificador del punto",
    "tipo": "Tipo",
    "tipo_nombre": "Tipo (nombre)",
    "institucion": "Institución",
    "zona": "Zona",
    "distrito": "Código de distrito",
    "departamento": "Código de departamento",
    "capacidad": "Capacidad",
    "origen": "Origen del dato",
}
Formato = Literal["geojson", "csv", "gpkg"]
# GDAL's CSV driver (QGIS, ogr2ogr) reads a column named WKT as the geometry, with no options.
COLUMNA_WKT = "WKT"
# GeoPackage 1.2: what GDAL 3.6 (Debian 12) and older QGIS read without a warning; newer
# GDAL would write 1.4, which they flag. Nothing here needs 1.3 or 1.4.
GPKG_VERSION = "1.2"
NOTA_CODIGOS = (
    "Los códigos (departamento 01…, distrito 0101…) son texto: para conservar el 0 inicial en "
    "Excel, abra el CSV con Datos > Desde texto/CSV y elija el tipo Texto para esas columnas. "
    "QGIS lee el punto de la columna WKT (CRS84: longitud, latitud) sin opciones."
)


def _resolve(capa: str, nivel: str | None, conn: psycopg.Connection, medidas_param: str | None):
    """(source, columns, headers, labels) of a layer: the layer's measures or the ones asked for.

    ``capa`` is a layer of the ``capas/`` catalog (``logros``, ``brechas``, ``puntos``,
    ``territorio`` …) or one of the plain sources ``cobertura`` (every published measure),
    ``puntos_entrega``, ``departamentos``, ``distritos``.
    """
    from capas import default_capas

    catalog = default_capas()
    chosen = [m.strip() for m in medidas_param.split(",") if m.strip()] if medidas_param else None
    layer = catalog.get(capa)
    if layer is not None and layer.fuente == "publico.punto_entrega":
        capa = "puntos_entrega"
    elif layer is not None and layer.fuente == "publico.territorio":
        if nivel not in (None, "departamento", "distrito"):
            raise SolicitudIncorrecta(f"La capa '{capa}' tiene los niveles departamento y distrito.")
        capa = "departamentos" if nivel == "departamento" else "distritos"
        nivel = None
    if (layer is not None and layer.fuente == "publico.cobertura") or capa == "cobertura":
        nivel = nivel or "distrito"
        allowed = [n.nivel for n in layer.niveles] if layer is not None else [n for n in NIVELES]
        if nivel not in allowed:
            raise SolicitudIncorrecta(f"El parámetro 'nivel' debe ser uno de: {', '.join(allowed)}.")
        fuente = _cobertura(nivel)
        if layer is not None:
            from capas import resolve_measures
            from capas.catalogo import read_dictionary

            offered = [r["columna"] for r in resolve_measures(layer, read_dictionary(conn))]
            outside = [m for m in chosen or [] if m not in offered]
            if outside:
                raise SolicitudIncorrecta(
                    f"La capa '{capa}' no ofrece la medida: {', '.join(outside)} (ofrece: {', '.join(offered)})."
                )
            chosen = chosen or offered
        columns = fuente.columnas(conn, chosen)
    elif capa in ("puntos_entrega", "departamentos", "distritos"):
        if nivel is not None:
            raise SolicitudIncorrecta(f"La capa '{capa}' no admite el parámetro 'nivel'.")
        if chosen is not None:
            raise SolicitudIncorrecta(f"La capa '{capa}' no tiene medidas; quite el parámetro 'medidas'.")
        fuente = fuentes()[capa]
        columns = fuente.columnas(conn)
    else:
        names = [*catalog, "cobertura", "puntos_entrega", "departamentos", "distritos"]
        raise NoEncontrado(f"No existe la capa '{capa}'. Capas descargables: {', '.join(names)}.")
    labels = {m.columna: (m.etiqueta, m.unidad, m.tipo) for m in medidas(conn)}
    headers = [HEAD_LABELS.get(name) or labels.get(name, (name,))[0] for name, _ in columns]
    return fuente, columns, headers, labels


def _rows(pool, query, params, itersize: int = CHUNK) -> Iterator[tuple]:
    """Rows of a query through a server-side cursor, on a connection held while streaming."""
    with conexion(pool) as conn, conn.transaction(), conn.cursor(name="descarga") as cur:
        cur.itersize = itersize
        cur.execute(query, params)
        yield from cur


def _filtros(departamento, distrito) -> Filtros:
    return Filtros(departamento=departamento, distrito=distrito)


@router.get("/descargas/{capa}.{formato}", summary="Descarga de una capa (GeoJSON, CSV o GeoPackage)")
def descargar(
    publico: PoolPublico,
    capa: str = Path(..., max_length=64, description="Capa (p. ej. cobertura, puntos_entrega, distritos)."),
    formato: Formato = Path(..., description="geojson, csv o gpkg"),
    nivel: str | None = Query(
        None, max_length=20, description="Nivel: departamento, distrito, h3_5 … h3_8 (por defecto distrito)."
    ),
    departamento: str | None = Query(None, max_length=10, description="Código de departamento (2 dígitos)."),
    distrito: str | None = Query(None, max_length=10, description="Código de distrito (4 dígitos)."),
    medidas: str | None = Query(
        None, max_length=4000, description="Columnas de medidas separadas por comas (por defecto las de la capa)."
    ),
):
    with conexion(publico) as conn:
        version = version_o_503(conn)
        fuente, columns, headers, labels = _resolve(capa, nivel, conn, medidas)
        clauses, params = fuente.where(_filtros(departamento, distrito))
    stem = f"{capa}_{fuente.nivel}" if fuente.nivel else capa
    name = f"{stem}_{version['data_version']}.{formato}"
    common = {"Content-Disposition": f'attachment; filename="{name}"', "X-Version-Datos": version["data_version"]}
    if formato == "geojson":
        return StreamingResponse(
            _geojson(publico, fuente, columns, clauses, params, version, stem),
            media_type="application/geo+json",
            headers=common,
        )
    if formato == "csv":
        link = f'</descargas/{capa}/diccionario.csv?nivel={fuente.nivel or ""}>; rel="describedby"'
        return StreamingResponse(
            _csv(publico, fuente, columns, headers, clauses, params),
            media_type=MEDIA_TYPE,
            headers={**common, "Link": link},
        )
    path = _gpkg(publico, fuente, columns, headers, labels, clauses, params, version, stem)
    return FileResponse(
        path,
        media_type="application/geopackage+sqlite3",
        filename=name,
        headers={"X-Version-Datos": version["data_version"]},
        background=BackgroundTask(os.unlink, path),
    )


def _geojson(pool, fuente: Fuente, columns, clauses, params, version: dict, stem: str) -> Iterator[bytes]:
    import json

    head = {
        "type": "FeatureCollection",
        "name": stem,
        "data_version": version["data_version"],
        "atribucion": ATRIBUCION,
        "nota_sdc": version["notas"],
        "datos": ETIQUETA_SINTETICA,
    }
    yield (json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [\n').encode()
    first = True
    buffer: list[str] = []
    query, _ = feature_sql(fuente, columns, clauses)
    for (feature,) in _rows(pool, query, params):
        buffer.append(feature if first else ",\n" + feature)
        first = False
        if len(buffer) >= 500:
            yield "".join(buffer).encode()
            buffer.clear()
    buffer.append("\n]}\n")
    yield "".join(buffer).encode()


def _csv(pool, fuente: Fuente, columns, headers, clauses, params) -> Iterator[bytes]:
    from psycopg import sql

    query = sql.SQL(
        "SELECT {props}, r.lon, r.lat, 'POINT(' || r.lon || ' ' || r.lat || ')'"
        " FROM {table} t CROSS JOIN LATERAL (SELECT round(ST_X(p)::numeric, 6)::float8 AS lon,"
        " round(ST_Y(p)::numeric, 6)::float8 AS lat FROM (SELECT ST_PointOnSurface(t.geom) AS p) q) r"
        " {where} ORDER BY t.{id}"
    ).format(
        props=sql.SQL(", ").join(expr for _, expr in columns),
        table=sql.SQL(fuente.tabla),
        id=sql.Identifier(fuente.id_col),
        where=sql.SQL("WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL(""),
    )
    yield (
        BOM + csv_line([*headers, "Longitud (punto representativo)", "Latitud (punto representativo)", COLUMNA_WKT])
    ).encode()
    buffer: list[str] = []
    for row in _rows(pool, query, params):
        buffer.append(csv_line(row))
        if len(buffer) >= 1000:
            yield "".join(buffer).encode()
            buffer.clear()
    yield "".join(buffer).encode()


def _gpkg(pool, fuente: Fuente, columns, headers, labels, clauses, params, version: dict, stem: str) -> str:
    import geopandas as gpd
    import pandas as pd
    import pyogrio
    import shapely

    names = [name for name, _ in columns]
    dtypes = {}
    for name in names:
        kind = labels.get(name, (None, None, None))[2]
        dtypes[name] = (
            "Int64"
            if kind == "conteo" or name in ("pob_censo", "capacidad")
            else ("float64" if kind else ("boolean" if name == "reservado" else "object"))
        )
    metadata = {
        "data_version": version["data_version"],
        "atribucion": ATRIBUCION,
        "nota_sdc": version["notas"],
        "datos": ETIQUETA_SINTETICA,
    }
    handle, path = tempfile.mkstemp(suffix=".gpkg", prefix="descarga-")
    os.close(handle)
    os.unlink(path)
    try:
        written = False
        chunk: list[tuple] = []

        def flush() -> None:
            nonlocal written
            frame = pd.DataFrame.from_records([r[:-1] for r in chunk], columns=names)
            frame = frame.astype({k: v for k, v in dtypes.items() if v != "object"})
            # A 2022 district without a 2012 polygon has no geometry of its own: a row without one.
            geometry = shapely.from_wkb([None if r[-1] is None else bytes(r[-1]) for r in chunk])
            gdf = gpd.GeoDataFrame(frame, geometry=geometry, crs="OGC:CRS84")
            pyogrio.write_dataframe(
                gdf,
                path,
                layer=stem,
                driver="GPKG",
                append=written,
                promote_to_multi=fuente.geometria.startswith("Multi"),
                **({} if written else {"layer_metadata": metadata, "dataset_options": {"VERSION": GPKG_VERSION}}),
            )
            written = True
            chunk.clear()

        for row in _rows(pool, plain_sql(fuente, columns, clauses), params):
            chunk.append(row)
            if len(chunk) >= CHUNK:
                flush()
        if chunk or not written:
            if not chunk:
                raise NoEncontrado("No hay elementos que cumplan los filtros pedidos.")
            flush()
        dictionary = pd.DataFrame(
            {"columna": names, "encabezado": headers, "unidad": [labels.get(n, (None, ""))[1] for n in names]}
        )
        pyogrio.write_dataframe(dictionary, path, layer="diccionario", driver="GPKG", append=False)
        pyogrio.write_dataframe(
            pd.DataFrame({"clave": list(metadata), "valor": list(metadata.values())}),
            path,
            layer="metadatos",
            driver="GPKG",
            append=False,
        )
    except BaseException:
        if os.path.exists(path):
            os.unlink(path)
        raise
    return path


@router.get("/descargas/{capa}/diccionario.csv", summary="Diccionario de columnas de la descarga CSV")
def diccionario(
    publico: PoolPublico,
    capa: str = Path(..., max_length=64),
    nivel: str | None = Query(None, max_length=20),
    medidas: str | None = Query(None, max_length=4000),
):
    with conexion(publico) as conn:
        version = version_o_503(conn)
        _, columns, headers, labels = _resolve(capa, nivel or None, conn, medidas)
    lines = [csv_line(["Campo", "Encabezado en el CSV", "Unidad", "Tipo"])]
    lines += [
        csv_line(["(versión de datos)", version["data_version"], "", ""]),
        csv_line(["(atribución)", ATRIBUCION, "", ""]),
        csv_line(["(control de divulgación)", version["notas"], "", ""]),
        csv_line(["(datos)", ETIQUETA_SINTETICA, "", ""]),
    ]
    for (name, _), header in zip(columns, headers):
        label = labels.get(name)
        lines.append(csv_line([name, header, label[1] if label else "", label[2] if label else "texto"]))
    lines.append(csv_line(["(longitud, latitud)", "Punto representativo del área (grados, CRS84)", "grados", ""]))
    lines.append(csv_line(["(WKT)", "El mismo punto en texto WKT (QGIS y GDAL lo leen como geometría)", "", "texto"]))
    lines.append(csv_line(["(códigos)", NOTA_CODIGOS, "", "texto"]))
    body = (BOM + "".join(lines)).encode()
    return StreamingResponse(
        iter([body]),
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{capa}_diccionario.csv"'},
    )
