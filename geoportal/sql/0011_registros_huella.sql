-- Administrative records as an ingest batch, and the data fingerprint of the computation.
--
-- `geoportal ingestar registros ARCHIVO` loads status events (nominal.estatus_evento) like
-- any ingest file: one batch in nominal.lote_ingesta, rows applied, unchanged or
-- quarantined with their reason.
ALTER TABLE nominal.lote_ingesta DROP CONSTRAINT IF EXISTS lote_ingesta_tipo_check;
ALTER TABLE nominal.lote_ingesta ADD CONSTRAINT lote_ingesta_tipo_check
    CHECK (tipo IN ('hogares', 'personas', 'puntos', 'contrarreferencias', 'registros'));

-- What the figures in calculo.agregado were computed from: one row per 2022 district, the
-- SHA-256 of the rows the computation read for it and of its other inputs (geoportal/
-- huella.py); a national computation writes them all, a district update its own.
-- data_version hashes them, so it changes whenever a figure can and is the same for the
-- same data however it was computed; publico.version shows only a keyed hash of them.
CREATE TABLE calculo.huella (
    ambito  text PRIMARY KEY,
    huella  text NOT NULL
);
