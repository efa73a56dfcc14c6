"""SQLAlchemy / GeoAlchemy2 models of the fixed tables (the migrations' SQL is the source).

The wide result tables (``calculo.contribucion``, ``calculo.agregado``,
``publico.cobertura``) have one column per catalog measure and are created by
``geoportal calcular``, so they are not modelled here. A test checks with alembic's
``compare_metadata`` that these models and the migrated database agree.
"""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger, Boolean, CHAR, Column, Computed, Date, DateTime, Float, ForeignKey, Integer, MetaData, REAL, Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()


def _point() -> Column:
    return Column("geom", Geometry("POINT", 4326, spatial_index=False),
                  Computed("ST_SetSRID(ST_MakePoint(lon, lat), 4326)", persisted=True))


fuente = Table(
    "fuente", metadata,
    Column("capa", Text, primary_key=True), Column("atribucion", Text, nullable=False),
    Column("licencia", Text, nullable=False), Column("notas", Text, nullable=False),
    schema="territorio",
)
departamento = Table(
    "departamento", metadata,
    Column("codigo", Text, primary_key=True), Column("nombre", Text, nullable=False),
    Column("geom", Geometry("MULTIPOLYGON", 4326, spatial_index=False), nullable=False),
    schema="territorio",
)
distrito_cartografico = Table(
    "distrito_cartografico", metadata,
    Column("codigo_2012", Text, primary_key=True),
    Column("dpto", Text, ForeignKey("territorio.departamento.codigo"), nullable=False),
    Column("nombre", Text, nullable=False),
    Column("geom", Geometry("MULTIPOLYGON", 4326, spatial_index=False), nullable=False),
    schema="territorio",
)
distrito = Table(
    "distrito", metadata,
    Column("codigo", Text, primary_key=True), Column("codigo_provisional", Boolean, nullable=False),
    Column("dpto", Text, ForeignKey("territorio.departamento.codigo"), nullable=False),
    Column("nombre", Text, nullable=False),
    Column("codigo_2012", Text, ForeignKey("territorio.distrito_cartografico.codigo_2012")),
    Column("relacion_2012", Text, nullable=False), Column("piloto", Boolean, nullable=False),
    Column("pob_total", Integer, nullable=False), Column("pob_hombres", Integer, nullable=False),
    Column("pob_mujeres", Integer, nullable=False), Column("edad_mediana", REAL),
    Column("pob_5ymas", Integer, nullable=False), Column("pob_15ymas", Integer, nullable=False),
    Column("lat_cabecera", Float), Column("lon_cabecera", Float), Column("fuente_poblacion", Text, nullable=False),
    schema="territorio",
)
localidad = Table(
    "localidad", metadata,
    Column("geonameid", BigInteger, primary_key=True, autoincrement=False), Column("nombre", Text, nullable=False),
    Column("codigo_2012", Text, ForeignKey("territorio.distrito_cartografico.codigo_2012")),
    Column("geom", Geometry("POINT", 4326, spatial_index=False), nullable=False),
    schema="territorio",
)
punto_entrega = Table(
    "punto_entrega", metadata,
    Column("punto_id", Text, primary_key=True), Column("tipo", Text, nullable=False),
    Column("nombre", Text, nullable=False), Column("institucion", Text, nullable=False),
    Column("zona", Text, nullable=False),
    Column("codigo_2012", Text, ForeignKey("territorio.distrito_cartografico.codigo_2012")),
    Column("capacidad", Integer, nullable=False), Column("origen", Text, nullable=False),
    Column("lote_id", Integer), Column("lon", Float, nullable=False), Column("lat", Float, nullable=False),
    _point(),
    schema="oferta",
)
lote_ingesta = Table(
    "lote_ingesta", metadata,
    Column("lote_id", Integer, primary_key=True), Column("tipo", Text, nullable=False),
    Column("archivo", Text, nullable=False), Column("sha256", Text, nullable=False),
    Column("filas_leidas", Integer, nullable=False), Column("filas_nuevas", Integer, nullable=False),
    Column("filas_actualizadas", Integer, nullable=False), Column("filas_sin_cambio", Integer, nullable=False),
    Column("filas_cuarentena", Integer, nullable=False), Column("cargado_en", DateTime(timezone=True), nullable=False),
    schema="nominal",
)
cuarentena = Table(
    "cuarentena", metadata,
    Column("lote_id", Integer, ForeignKey("nominal.lote_ingesta.lote_id", ondelete="CASCADE"), primary_key=True),
    Column("fila", Integer, primary_key=True), Column("motivo", Text, nullable=False),
    Column("detalle", Text, nullable=False), Column("datos", JSONB, nullable=False),
    schema="nominal",
)
hogar = Table(
    "hogar", metadata,
    Column("hogar_id", Text, primary_key=True), Column("codigo_distrito", Text, nullable=False),
    Column("codigo_2012", Text), Column("localidad", Text, nullable=False), Column("zona", Text, nullable=False),
    Column("fecha_relevamiento", Date, nullable=False), Column("servicios", ARRAY(Text), nullable=False),
    Column("origen", Text, nullable=False), Column("lote_id", Integer, nullable=False),
    Column("lon", Float, nullable=False), Column("lat", Float, nullable=False),
    Column("h3_8", BigInteger, nullable=False), _point(),
    schema="nominal",
)
persona = Table(
    "persona", metadata,
    Column("persona_id", Text, primary_key=True), Column("hogar_id", Text, nullable=False),
    Column("nombres", Text, nullable=False), Column("apellidos", Text, nullable=False),
    Column("sexo", CHAR(1), nullable=False), Column("fecha_nacimiento", Date, nullable=False),
    Column("embarazada", Boolean, nullable=False), Column("discapacidad", Boolean, nullable=False),
    Column("indigena", Boolean, nullable=False), Column("servicios", ARRAY(Text), nullable=False),
    Column("origen", Text, nullable=False), Column("lote_id", Integer, nullable=False),
    schema="nominal",
)
estatus_evento = Table(
    "estatus_evento", metadata,
    Column("evento_id", BigInteger, primary_key=True), Column("unidad", Text, nullable=False),
    Column("unidad_id", Text, nullable=False), Column("servicio", Text, nullable=False),
    Column("cubierto", Boolean, nullable=False), Column("fecha", Date, nullable=False),
    Column("fuente", Text, nullable=False), Column("registrado", DateTime(timezone=True), nullable=False),
    # The unit's 2022 district, kept by triggers (migration 0009).
    Column("codigo_distrito", Text),
    schema="nominal",
)
derivacion = Table(
    "derivacion", metadata,
    Column("derivacion_id", BigInteger, primary_key=True), Column("unidad", Text, nullable=False),
    Column("unidad_id", Text, nullable=False), Column("servicio", Text, nullable=False),
    Column("estado", Text, nullable=False), Column("creada", DateTime(timezone=True), nullable=False),
    Column("usuario", Text, nullable=False),
    # Referral cycle (migration 0007).
    Column("hogar_id", Text, nullable=False), Column("distrito", Text, nullable=False),
    Column("institucion", Text, nullable=False), Column("punto_id", Text), Column("brecha", Text),
    Column("nota", Text, nullable=False), Column("actualizada", DateTime(timezone=True), nullable=False),
    schema="nominal",
)
derivacion_estado = Table(
    "derivacion_estado", metadata,
    Column("historia_id", BigInteger, primary_key=True), Column("derivacion_id", BigInteger, nullable=False),
    Column("estado", Text, nullable=False), Column("fecha", Date, nullable=False), Column("punto_id", Text),
    Column("nota", Text, nullable=False), Column("usuario", Text, nullable=False), Column("rol", Text, nullable=False),
    Column("registrado", DateTime(timezone=True), nullable=False),
    schema="nominal",
)
auditoria = Table(
    "auditoria", metadata,
    Column("auditoria_id", BigInteger, primary_key=True), Column("momento", DateTime(timezone=True), nullable=False),
    Column("usuario", Text, nullable=False), Column("rol", Text, nullable=False), Column("accion", Text, nullable=False),
    Column("territorio", Text), Column("detalle", JSONB, nullable=False),
    schema="nominal",
)
version = Table(
    "version", metadata,
    Column("data_version", Text, primary_key=True), Column("calculado_en", DateTime(timezone=True), nullable=False),
    Column("ambito", Text, nullable=False), Column("parametros", JSONB, nullable=False),
    Column("notas", Text, nullable=False), Column("vigente", Boolean, nullable=False),
    schema="publico",
)
medida = Table(
    "medida", metadata,
    Column("columna", Text, primary_key=True), Column("etiqueta", Text, nullable=False),
    Column("tipo", Text, nullable=False), Column("unidad", Text, nullable=False), Column("logro", Integer),
    Column("servicio", Text), Column("paquete", Text), Column("descripcion", Text, nullable=False),
    schema="publico",
)
