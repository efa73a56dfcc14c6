-- Map layers (capas/) and vector tiles (tiles/): what the public map service reads
-- besides publico.cobertura. All of it is derived from public data only.
--   publico.territorio     departments and districts (offline base map)
--   publico.punto_entrega  delivery points, real and synthetic
--   publico.leyenda        legend class breaks and colours per data_version
--   publico.tesela_geom    geometries in EPSG:3857, simplified per zoom, once per version
--   publico.tesela_estado  which data_version the two tables above were prepared for

CREATE VIEW publico.territorio AS
    SELECT 'departamento'::text AS nivel, d.codigo, d.nombre, d.codigo AS departamento, d.geom::geometry(Geometry, 4326) AS geom
      FROM territorio.departamento d
    UNION ALL
    SELECT 'distrito', c.codigo_2012, c.nombre, c.dpto, c.geom::geometry(Geometry, 4326)
      FROM territorio.distrito_cartografico c;

CREATE VIEW publico.punto_entrega AS
    SELECT 'punto'::text AS nivel, p.punto_id AS codigo, p.nombre, p.tipo, p.institucion, p.origen, p.zona,
           p.capacidad, p.codigo_2012, p.geom
      FROM oferta.punto_entrega p;

CREATE TABLE publico.leyenda (
    data_version  text NOT NULL,
    capa          text NOT NULL,
    medida        text NOT NULL,
    nivel         text NOT NULL,
    metodo        text NOT NULL,
    cortes        double precision[] NOT NULL,
    categorias    text[],
    colores       text[] NOT NULL,
    PRIMARY KEY (data_version, capa, medida, nivel)
);

CREATE TABLE publico.tesela_geom (
    fuente  text NOT NULL,
    nivel   text NOT NULL,
    codigo  text NOT NULL,
    z       smallint NOT NULL,          -- -1: the same geometry at every zoom (H3, points)
    huella  text NOT NULL,              -- md5 of the source geometry: rebuilt only when it changes
    geom    geometry(Geometry, 3857) NOT NULL
);
CREATE INDEX tesela_geom_nivel ON publico.tesela_geom (fuente, nivel, z);
CREATE INDEX tesela_geom_codigo ON publico.tesela_geom (fuente, nivel, codigo);
CREATE INDEX tesela_geom_geom ON publico.tesela_geom USING gist (geom);

CREATE TABLE publico.tesela_estado (
    unica         boolean PRIMARY KEY DEFAULT true CHECK (unica),
    data_version  text NOT NULL,
    preparado_en  timestamptz NOT NULL DEFAULT now(),
    segundos      real NOT NULL,
    plan          jsonb NOT NULL        -- (fuente, nivel) → zooms the geometries were simplified for
);

GRANT SELECT ON publico.territorio, publico.punto_entrega, publico.leyenda, publico.tesela_geom,
    publico.tesela_estado TO geoportal_publico;
