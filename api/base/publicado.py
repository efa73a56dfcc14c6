"""What is published, as every handler reads it: the current publication (``data_version``),
the dictionary of measures, the levels, the attribution and the synthetic-data label.

Read on a public-role connection (``api.base.conexiones``); nothing published yet is a
503 problem (:class:`api.base.errores.BaseNoDisponible`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import sql

from api.base.errores import BaseNoDisponible

NIVELES = ("pais", "departamento", "distrito", "h3_5", "h3_6", "h3_7", "h3_8")
HEAD_COLUMNS = ("nivel", "codigo", "padre", "nombre", "reservado", "pob_censo", "data_version")
ATRIBUCION = (
    "Territorio y población: INE Paraguay (censo 2022, cartografía DGEEC 2012); escuelas: MEC "
    "(CC BY 4.0); localidades: GeoNames (CC BY 4.0); salud: MSPBS; red sintética de puntos y "
    "hogares: geoportal SPS «Vamos!»."
)
ETIQUETA_SINTETICA = (
    "Datos de demostración: hogares y personas SINTÉTICOS (origen = sintetico); no describen a personas reales."
)
PAIS_BBOX = (-62.65, -27.61, -54.25, -19.28)


@dataclass(frozen=True)
class Medida:
    columna: str
    etiqueta: str
    tipo: str
    unidad: str
    logro: int | None
    servicio: str | None
    paquete: str | None


def medidas(conn: psycopg.Connection) -> list[Medida]:
    """The dictionary of published measures that really are columns of publico.cobertura."""
    rows = conn.execute(
        "SELECT m.columna, m.etiqueta, m.tipo, m.unidad, m.logro, m.servicio, m.paquete FROM publico.medida m"
        " JOIN information_schema.columns c ON c.table_schema = 'publico' AND c.table_name = 'cobertura'"
        " AND c.column_name = m.columna ORDER BY c.ordinal_position"
    ).fetchall()
    return [Medida(*r) for r in rows]


def version_vigente(conn: psycopg.Connection) -> dict | None:
    row = conn.execute("SELECT data_version, calculado_en, notas FROM publico.version WHERE vigente").fetchone()
    if row is None:
        return None
    return {"data_version": row[0], "calculado_en": row[1].isoformat(), "notas": row[2]}


def version_o_503(conn: psycopg.Connection) -> dict:
    version = version_vigente(conn)
    if version is None:
        raise BaseNoDisponible("todavía no hay cifras publicadas (ejecute geoportal calcular)")
    return version


def ident_list(names) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


CODIGO_DEPARTAMENTO = re.compile(r"^[0-9]{2}$")
CODIGO_DISTRITO = re.compile(r"^[0-9]{4}$")
