-- Real locality points (the reference point of an entorno): GeoNames places and MEC
-- localities (one point per 2012 district polygon and repaired locality name: the school
-- nearest the mean of that locality's schools). `clave` is geoportal.nombres.clave(nombre).
CREATE TABLE territorio.lugar (
    lugar_id     text PRIMARY KEY,
    nombre       text NOT NULL,
    clave        text NOT NULL,
    codigo_2012  text REFERENCES territorio.distrito_cartografico (codigo_2012),
    fuente       text NOT NULL CHECK (fuente IN ('geonames', 'mec')),
    zona         text CHECK (zona IN ('urbana', 'rural')),
    geom         geometry(Point, 4326) NOT NULL,
    lon          double precision GENERATED ALWAYS AS (ST_X(geom)) STORED,
    lat          double precision GENERATED ALWAYS AS (ST_Y(geom)) STORED
);
CREATE INDEX ON territorio.lugar (codigo_2012, clave);
CREATE INDEX ON territorio.lugar USING gist (geom);
GRANT SELECT ON territorio.lugar TO geoportal_publico;
