-- Base schema of the geoportal.
--   territorio : real territory (INE/DGEEC), public
--   oferta     : service delivery points (real MEC/MSPBS + synthetic), public
--   nominal    : FIPS households and persons, statuses, referrals, ingest batches,
--                quarantine and the audit log; NEVER readable by the public role
--   publico    : protected aggregates only (created by the coverage migration)

CREATE EXTENSION IF NOT EXISTS postgis;

CREATE SCHEMA IF NOT EXISTS territorio;
CREATE SCHEMA IF NOT EXISTS oferta;
CREATE SCHEMA IF NOT EXISTS nominal;
CREATE SCHEMA IF NOT EXISTS publico;

-- ---------------------------------------------------------------- territorio
CREATE TABLE territorio.fuente (
    capa        text PRIMARY KEY,
    atribucion  text NOT NULL,
    licencia    text NOT NULL,
    notas       text NOT NULL DEFAULT ''
);

CREATE TABLE territorio.departamento (
    codigo  text PRIMARY KEY CHECK (codigo ~ '^[0-9]{2}$'),
    nombre  text NOT NULL,
    geom    geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX ON territorio.departamento USING gist (geom);

-- Cartographic district: the 245 DGEEC 2012 polygons (no 2022 layer exists openly).
CREATE TABLE territorio.distrito_cartografico (
    codigo_2012  text PRIMARY KEY CHECK (codigo_2012 ~ '^[0-9]{4}$'),
    dpto         text NOT NULL REFERENCES territorio.departamento (codigo),
    nombre       text NOT NULL,
    geom         geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX ON territorio.distrito_cartografico USING gist (geom);

-- 2022 census districts (263): the administrative unit households declare.
CREATE TABLE territorio.distrito (
    codigo              text PRIMARY KEY CHECK (codigo ~ '^[0-9]{4}$'),
    codigo_provisional  boolean NOT NULL,
    dpto                text NOT NULL REFERENCES territorio.departamento (codigo),
    nombre              text NOT NULL,
    codigo_2012         text REFERENCES territorio.distrito_cartografico (codigo_2012),
    relacion_2012       text NOT NULL,
    piloto              boolean NOT NULL DEFAULT false,
    pob_total           integer NOT NULL CHECK (pob_total >= 0),
    pob_hombres         integer NOT NULL,
    pob_mujeres         integer NOT NULL,
    edad_mediana        real,
    pob_5ymas           integer NOT NULL,
    pob_15ymas          integer NOT NULL,
    lat_cabecera        double precision,
    lon_cabecera        double precision,
    fuente_poblacion    text NOT NULL,
    CHECK (pob_hombres + pob_mujeres = pob_total)
);

CREATE TABLE territorio.localidad (
    geonameid    bigint PRIMARY KEY,
    nombre       text NOT NULL,
    codigo_2012  text REFERENCES territorio.distrito_cartografico (codigo_2012),
    geom         geometry(Point, 4326) NOT NULL
);

-- ---------------------------------------------------------------- oferta
CREATE TABLE oferta.punto_entrega (
    punto_id        text PRIMARY KEY,
    tipo            text NOT NULL,
    nombre          text NOT NULL,
    institucion     text NOT NULL,
    zona            text NOT NULL CHECK (zona IN ('urbana', 'rural')),
    codigo_2012     text REFERENCES territorio.distrito_cartografico (codigo_2012),
    capacidad       integer NOT NULL CHECK (capacidad > 0),
    origen          text NOT NULL CHECK (origen = 'sintetico' OR origen LIKE 'real:%'),
    lote_id         integer,
    lon             double precision NOT NULL,
    lat             double precision NOT NULL,
    geom            geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED
);
CREATE INDEX ON oferta.punto_entrega USING gist (geom);
CREATE INDEX ON oferta.punto_entrega (tipo);

-- ---------------------------------------------------------------- nominal
CREATE TABLE nominal.lote_ingesta (
    lote_id          serial PRIMARY KEY,
    tipo             text NOT NULL CHECK (tipo IN ('hogares', 'personas', 'puntos')),
    archivo          text NOT NULL,
    sha256           text NOT NULL,
    filas_leidas     integer NOT NULL,
    filas_nuevas     integer NOT NULL,
    filas_actualizadas integer NOT NULL,
    filas_sin_cambio integer NOT NULL,
    filas_cuarentena integer NOT NULL,
    cargado_en       timestamptz NOT NULL DEFAULT now(),
    CHECK (filas_leidas = filas_nuevas + filas_actualizadas + filas_sin_cambio + filas_cuarentena)
);

CREATE TABLE nominal.cuarentena (
    lote_id   integer NOT NULL REFERENCES nominal.lote_ingesta (lote_id) ON DELETE CASCADE,
    fila      integer NOT NULL,
    motivo    text NOT NULL,
    detalle   text NOT NULL,
    datos     jsonb NOT NULL,
    PRIMARY KEY (lote_id, fila)
);

-- Territory codes of households and persons' households are checked by the ingest as a
-- set (one join per file), not by per-row foreign-key triggers: at national scale
-- (1.9 M households, 6.1 M persons) those triggers cost minutes per load.
CREATE TABLE nominal.hogar (
    hogar_id            text PRIMARY KEY,
    codigo_distrito     text NOT NULL,
    codigo_2012         text,
    localidad           text NOT NULL,
    zona                text NOT NULL CHECK (zona IN ('urbana', 'rural')),
    fecha_relevamiento  date NOT NULL,
    servicios           text[] NOT NULL DEFAULT '{}',
    origen              text NOT NULL CHECK (origen = 'sintetico' OR origen LIKE 'real:%' OR origen = 'fips'),
    lote_id             integer NOT NULL,
    lon                 double precision NOT NULL,
    lat                 double precision NOT NULL,
    -- H3 resolution-8 cell of the dwelling, computed once at ingest (aggregation reuses it).
    h3_8                bigint NOT NULL,
    geom                geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED
);
CREATE INDEX ON nominal.hogar (codigo_distrito);

CREATE TABLE nominal.persona (
    persona_id        text PRIMARY KEY,
    hogar_id          text NOT NULL,
    nombres           text NOT NULL,
    apellidos         text NOT NULL,
    sexo              char(1) NOT NULL CHECK (sexo IN ('F', 'M')),
    fecha_nacimiento  date NOT NULL,
    embarazada        boolean NOT NULL DEFAULT false,
    discapacidad      boolean NOT NULL DEFAULT false,
    indigena          boolean NOT NULL DEFAULT false,
    servicios         text[] NOT NULL DEFAULT '{}',
    origen            text NOT NULL,
    lote_id           integer NOT NULL
);
CREATE INDEX ON nominal.persona (hogar_id);

-- Status changes after the FIPS: administrative records and contrarreferencias.
CREATE TABLE nominal.estatus_evento (
    evento_id   bigserial PRIMARY KEY,
    unidad      text NOT NULL CHECK (unidad IN ('persona', 'hogar')),
    unidad_id   text NOT NULL,
    servicio    text NOT NULL,
    cubierto    boolean NOT NULL,
    fecha       date NOT NULL,
    fuente      text NOT NULL,
    registrado  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON nominal.estatus_evento (unidad, unidad_id);

CREATE TABLE nominal.derivacion (
    derivacion_id  bigserial PRIMARY KEY,
    unidad         text NOT NULL CHECK (unidad IN ('persona', 'hogar')),
    unidad_id      text NOT NULL,
    servicio       text NOT NULL,
    estado         text NOT NULL CHECK (estado IN ('referida', 'atendida', 'rechazada')),
    creada         timestamptz NOT NULL DEFAULT now(),
    usuario        text NOT NULL
);

CREATE TABLE nominal.auditoria (
    auditoria_id  bigserial PRIMARY KEY,
    momento       timestamptz NOT NULL DEFAULT now(),
    usuario       text NOT NULL,
    rol           text NOT NULL,
    accion        text NOT NULL,
    territorio    text,
    detalle       jsonb NOT NULL DEFAULT '{}'
);

-- ---------------------------------------------------------------- roles
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'geoportal_publico') THEN
        CREATE ROLE geoportal_publico NOLOGIN;
    END IF;
END $$;

REVOKE ALL ON SCHEMA nominal FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA nominal FROM PUBLIC;
GRANT USAGE ON SCHEMA territorio, oferta, publico TO geoportal_publico;
GRANT SELECT ON ALL TABLES IN SCHEMA territorio, oferta, publico TO geoportal_publico;
ALTER DEFAULT PRIVILEGES IN SCHEMA territorio, oferta, publico GRANT SELECT ON TABLES TO geoportal_publico;
