-- The 2SFCA demand locations of the last national computation: households grouped by
-- (H3 res-8 cell, zone), at their mean position, with the demand each places on every
-- point type (a column per type of the catalog, added by `geoportal calcular`, which
-- recreates the table like the wide tables of figures). Step 1 of a what-if's new point
-- (whatif.simulate) is computed from them: the very demand the stored ratios
-- (calculo.punto_ratio) came from, without reading hundreds of thousands of persons.
-- Counts of cells, never public (no API role has a right on calculo).
CREATE TABLE calculo.demanda_lugar (
    urbana  boolean NOT NULL,
    lon     double precision NOT NULL,
    lat     double precision NOT NULL
);
