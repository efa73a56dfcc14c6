"""The public "guía de servicios": nearest delivery points and one point's sheet.

Distances are geodesic (PostGIS ``geography``, WGS84 spheroid), in km; the candidates are
found with the spatial index (KNN ``<->`` on the geography) and then ordered by the true
distance. Only ``oferta.punto_entrega`` is read (public delivery points).
"""

from __future__ import annotations

from fastapi import APIRouter, Path, Query

from api.base.conexiones import PoolPublico, conexion
from api.base.errores import NoEncontrado, SolicitudIncorrecta
from api.base.publicado import PAIS_BBOX
from api.publico.consultas import tipo_nombres
from geoportal.catalog import default_catalog

router = APIRouter(prefix="/api/servicios", tags=["servicios"])

_COLUMNS = (
    "SELECT p.punto_id, p.tipo, p.nombre, p.institucion, p.zona, p.codigo_2012, c.nombre, p.capacidad,"
    " p.origen, p.lon, p.lat"
)
_FROM = " FROM oferta.punto_entrega p LEFT JOIN territorio.distrito_cartografico c ON c.codigo_2012 = p.codigo_2012"


def _point(row, distance: float | None = None) -> dict:
    names = tipo_nombres()
    out = {
        "punto_id": row[0],
        "tipo": row[1],
        "tipo_nombre": names.get(row[1], row[1]),
        "nombre": row[2],
        "institucion": row[3],
        "zona": row[4],
        "distrito": row[5],
        "distrito_nombre": row[6],
        "capacidad": row[7],
        "origen": row[8],
        "sintetico": row[8] == "sintetico",
        "lon": row[9],
        "lat": row[10],
    }
    if distance is not None:
        out["distancia_km"] = round(distance, 3)
    return out


@router.get("/cercanos", summary="Puntos de entrega más cercanos a un lugar")
def cercanos(
    publico: PoolPublico,
    lat: float = Query(..., description="Latitud en grados (WGS84), dentro de Paraguay"),
    lon: float = Query(..., description="Longitud en grados (WGS84), dentro de Paraguay"),
    tipo: str | None = Query(None, max_length=40, description="Tipo de punto (usf, escuela, …)"),
    n: int = Query(5, ge=1, le=50, description="Cantidad de puntos (1 a 50)"),
):
    west, south, east, north = PAIS_BBOX
    if not (south <= lat <= north and west <= lon <= east):
        raise SolicitudIncorrecta(
            f"Las coordenadas deben estar dentro de Paraguay: latitud entre {south} y "
            f"{north}, longitud entre {west} y {east} (grados decimales, WGS84)."
        )
    tipos = default_catalog().tipos_punto
    if tipo is not None and tipo not in tipos:
        raise SolicitudIncorrecta(f"Tipo de punto desconocido: '{tipo}'. Tipos: {', '.join(tipos)}.")
    where = " WHERE p.tipo = %(tipo)s" if tipo else ""
    with conexion(publico) as conn:
        rows = conn.execute(
            f"SELECT * FROM ({_COLUMNS}, ST_Distance(p.geom::geography, g.here) / 1000.0 AS km{_FROM},"
            " (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography AS here) g"
            f"{where} ORDER BY p.geom::geography <-> g.here LIMIT %(k)s) x ORDER BY km, punto_id LIMIT %(n)s",
            {"lon": lon, "lat": lat, "tipo": tipo, "k": n * 4 + 20, "n": n},
        ).fetchall()
    return {
        "lat": lat,
        "lon": lon,
        "tipo": tipo,
        "puntos": [_point(r[:-1], r[-1]) for r in rows],
        "nota": "Distancia geodésica en línea recta (elipsoide WGS84), no por camino. "
        "origen = real:<fuente> (dato oficial) o sintetico (red de demostración).",
    }


@router.get("/{punto_id}", summary="Ficha de un punto de entrega")
def punto(publico: PoolPublico, punto_id: str = Path(..., max_length=80)):
    with conexion(publico) as conn:
        row = conn.execute(f"{_COLUMNS}{_FROM} WHERE p.punto_id = %s", (punto_id,)).fetchone()
    if row is None:
        raise NoEncontrado(f"No existe el punto de entrega '{punto_id}'.")
    return _point(row)
