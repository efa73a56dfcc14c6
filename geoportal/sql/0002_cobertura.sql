-- Coverage engine storage.
--   calculo : unprotected aggregates and per-district contributions (never public)
--   publico : protected aggregates, their column dictionary, versions, information loss
-- The wide tables calculo.contribucion, calculo.agregado and publico.cobertura have one
-- column per measure of the catalog, so `geoportal calcular` (re)creates them.

CREATE SCHEMA IF NOT EXISTS calculo;
REVOKE ALL ON SCHEMA calculo FROM PUBLIC;

CREATE TABLE calculo.punto_ratio (
    punto_id  text PRIMARY KEY,
    tipo      text NOT NULL,
    ratio     double precision NOT NULL
);

CREATE TABLE publico.version (
    data_version  text PRIMARY KEY,
    calculado_en  timestamptz NOT NULL DEFAULT now(),
    ambito        text NOT NULL,
    parametros    jsonb NOT NULL,
    notas         text NOT NULL,
    vigente       boolean NOT NULL DEFAULT true
);
CREATE UNIQUE INDEX version_vigente ON publico.version (vigente) WHERE vigente;

CREATE TABLE publico.medida (
    columna      text PRIMARY KEY,
    etiqueta     text NOT NULL,
    tipo         text NOT NULL CHECK (tipo IN ('conteo', 'porcentaje', 'media', 'meta', 'avance')),
    unidad       text NOT NULL,
    logro        integer,
    servicio     text,
    paquete      text,
    descripcion  text NOT NULL DEFAULT ''
);

CREATE TABLE publico.sdc_perdida (
    data_version              text NOT NULL,
    nivel                     text NOT NULL,
    zona                      text NOT NULL,
    areas                     integer NOT NULL,
    areas_reservadas_pct      double precision NOT NULL,
    hogares_en_reservadas_pct double precision NOT NULL,
    cifras_cambiadas_pct      double precision NOT NULL,
    cambio_absoluto_medio     double precision NOT NULL,
    PRIMARY KEY (data_version, nivel, zona)
);

GRANT SELECT ON publico.version, publico.medida, publico.sdc_perdida TO geoportal_publico;
