-- Disclosure control that survives an outside attacker.
--   publico.sdc_perdida : coarse loss only (whole percent), nothing that depends on rounding
--   calculo.sdc_perdida : the exact loss table, for authorised roles
--   calculo.actualizacion : internal log of computations (which district, when, how many
--                           records changed) and the public release each one entered
-- The live protected table calculo.cobertura_viva is (re)created by `geoportal calcular`.

DROP TABLE IF EXISTS publico.sdc_perdida;
CREATE TABLE publico.sdc_perdida (
    data_version              text NOT NULL,
    nivel                     text NOT NULL,
    zona                      text NOT NULL,
    areas_reservadas_pct      integer NOT NULL,
    hogares_en_reservadas_pct integer NOT NULL,
    PRIMARY KEY (data_version, nivel, zona)
);
GRANT SELECT ON publico.sdc_perdida TO geoportal_publico;

CREATE TABLE calculo.sdc_perdida (
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

CREATE TABLE calculo.actualizacion (
    actualizacion_id  bigserial PRIMARY KEY,
    data_version      text NOT NULL,
    ambito            text NOT NULL,
    parametros        jsonb NOT NULL,
    cambios           bigint NOT NULL,
    calculado_en      timestamptz NOT NULL DEFAULT now(),
    publicada_en      text
);
