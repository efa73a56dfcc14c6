"""``GET /capas``, ``/capas/{capa}`` and ``/capas/{capa}/tilejson.json`` (TileJSON 3.0.0).

Everything a map viewer needs to draw a layer: the levels and the zooms where each shows,
the measures with their Spanish labels and units (from ``publico.medida``), the legend
of the current data_version (breaks and colour-blind-safe colours per measure and
level), the text for reserved areas, the attribution and the synthetic-data label.
"""

from __future__ import annotations

import asyncio

import psycopg
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from capas.catalogo import Capa
from tiles.router import capa_o_404, teselas
from tiles.servicio import SIN_BASE, Estado

router = APIRouter(tags=["capas"])
SHORT = {"Cache-Control": "public, max-age=60"}
PARAGUAY = [-62.65, -27.61, -54.25, -19.28]
FIELD_TYPES = {"conteo": "Number", "porcentaje": "Number", "media": "Number", "meta": "Number", "avance": "Number"}


def _legends(url: str, version: str) -> list[dict]:
    """The stored legends of ``version``, or (before the post-publication step ran) the
    same legends computed now by the same function, from the same public tables."""
    from capas.clases import compute_legends

    with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
        cur = conn.execute(
            "SELECT capa, medida, nivel, metodo, cortes, categorias, colores FROM publico.leyenda"
            " WHERE data_version = %s",
            (version,),
        )
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
        return rows or compute_legends(conn, strict=False)


async def _estado_con_leyendas(request: Request) -> Estado:
    service = teselas(request)
    estado = await service.current()
    if estado.leyendas is None:
        try:
            estado.leyendas = await asyncio.to_thread(_legends, service.url(), estado.version)
        except psycopg.Error as error:
            raise HTTPException(503, detail=SIN_BASE) from error
    return estado


def _tiles_url(request: Request, capa: Capa, version: str) -> str:
    base = str(request.base_url).rstrip("/")
    return f"{base}/tiles/{capa.id}/{{z}}/{{x}}/{{y}}.mvt?v={version}"


def describe(request: Request, capa: Capa, estado: Estado) -> dict:
    legends = [r for r in estado.leyendas or [] if r["capa"] == capa.id]
    by_measure: dict[str, dict] = {}
    for r in legends:
        by_measure.setdefault(r["medida"], {})[r["nivel"]] = {
            "metodo": r["metodo"],
            "cortes": list(r["cortes"]),
            "colores": list(r["colores"]),
            **({"categorias": list(r["categorias"])} if r["categorias"] is not None else {}),
        }
    measures = [
        {
            "columna": m["columna"],
            "etiqueta": m["etiqueta"],
            "tipo": m["tipo"],
            "unidad": m["unidad"],
            "logro": m["logro"],
            "servicio": m["servicio"],
            "paquete": m["paquete"],
            "leyenda": by_measure.get(m["columna"], {}),
        }
        for m in estado.medidas.get(capa.id, [])
    ]
    out = {
        "id": capa.id,
        "titulo": capa.titulo,
        "descripcion": capa.descripcion,
        "geometria": capa.geometria,
        "audiencia": capa.audiencia,
        "fuente": capa.fuente,
        "niveles": [{"nivel": n.nivel, "zoom_min": n.zoom[0], "zoom_max": n.zoom[1]} for n in capa.niveles],
        "minzoom": capa.minzoom,
        "maxzoom": capa.maxzoom,
        "medidas": measures,
        "medida_inicial": capa.medida_inicial,
        "propiedades": capa.propiedades,
        "clasificacion": capa.clasificacion.model_dump(exclude_none=True),
        "rampa": capa.rampa,
        "texto_reservado": capa.texto_reservado,
        "atribucion": capa.atribucion,
        "etiqueta_sintetica": capa.etiqueta_sintetica,
        "data_version": estado.version,
        "tilejson": f"{str(request.base_url).rstrip('/')}/capas/{capa.id}/tilejson.json",
        "tiles": _tiles_url(request, capa, estado.version),
    }
    if capa.clasificacion.metodo == "categorias":
        out["leyenda"] = by_measure.get(capa.clasificacion.campo, {})
    if capa.id in estado.errores:
        out["error"] = estado.errores[capa.id]
    return out


@router.get("/capas", summary="Catálogo de capas del mapa")
async def lista(request: Request) -> JSONResponse:
    estado = await _estado_con_leyendas(request)
    capas = teselas(request).capas
    return JSONResponse(
        {"data_version": estado.version, "capas": [describe(request, c, estado) for c in capas.values()]}, headers=SHORT
    )


@router.get("/capas/{capa}", summary="Una capa del mapa")
async def una(request: Request, capa: str) -> JSONResponse:
    definition = capa_o_404(request, capa)
    estado = await _estado_con_leyendas(request)
    return JSONResponse(describe(request, definition, estado), headers=SHORT)


@router.get("/capas/{capa}/tilejson.json", summary="TileJSON 3.0.0 de una capa")
async def tilejson(request: Request, capa: str) -> JSONResponse:
    definition = capa_o_404(request, capa)
    estado = await teselas(request).current()
    fields = {"codigo": "String", "nombre": "String"}
    if "reservado" in estado.columnas.get(definition.fuente, set()):
        fields["reservado"] = "Boolean"
    for m in estado.medidas.get(definition.id, []):
        fields[m["columna"]] = FIELD_TYPES.get(m["tipo"], "Number")
    for p in definition.propiedades:
        fields[p] = "String"
    body = {
        "tilejson": "3.0.0",
        "name": definition.titulo,
        "description": definition.descripcion,
        "version": "1.0.0",
        "attribution": "; ".join(definition.atribucion) + ". " + definition.etiqueta_sintetica,
        "scheme": "xyz",
        "tiles": [_tiles_url(request, definition, estado.version)],
        "minzoom": definition.minzoom,
        "maxzoom": definition.maxzoom,
        "bounds": PARAGUAY,
        "center": [-58.0, -23.5, max(definition.minzoom, 6)],
        "vector_layers": [
            {
                "id": definition.id,
                "description": definition.descripcion,
                "fields": fields,
                "minzoom": definition.minzoom,
                "maxzoom": definition.maxzoom,
            }
        ],
        "data_version": estado.version,
    }
    return JSONResponse(body, headers=SHORT)
