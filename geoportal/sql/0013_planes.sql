-- Plans of improvement and investment (planes de mejora e inversión) and the history of the
-- public releases' protected figures.
--
--   planes.plan    : a Mesa's or the Gabinete's plan for one 2022 district (title, period, author)
--   planes.accion  : its actions: referral campaign, new or extended delivery point, outreach /
--                    registration drive; responsible institution, dates, status, target
--   publico.cifra_historia : every public release's protected shares (Logros, services) per
--                    territory, by data_version and date, so each Logro has a time series.
--
-- Row-Level Security for the API's role geoportal_nominal, with the plan scope set per
-- transaction by api/institucional/planes.py (its own settings, so a plan transaction sees
-- no nominal row): geoportal.plan_distritos (the districts the session covers) and
-- geoportal.plan_institucion ('*' for a Mesa or the Gabinete, else the institution's code,
-- which sees only the actions assigned to it and the plans that hold them; it writes nothing).
-- Every write is audited in nominal.auditoria in the same transaction (by the API).

CREATE SCHEMA IF NOT EXISTS planes;
REVOKE ALL ON SCHEMA planes FROM PUBLIC;

CREATE TABLE planes.plan (
    plan_id        serial PRIMARY KEY,
    titulo         text NOT NULL CHECK (length(titulo) BETWEEN 3 AND 200),
    distrito       text NOT NULL REFERENCES territorio.distrito (codigo),
    periodo_desde  date NOT NULL,
    periodo_hasta  date NOT NULL,
    autor          text NOT NULL,
    rol            text NOT NULL,
    creado         timestamptz NOT NULL DEFAULT now(),
    modificado     timestamptz NOT NULL DEFAULT now(),
    CHECK (periodo_hasta >= periodo_desde)
);
CREATE INDEX ON planes.plan (distrito);

CREATE TABLE planes.accion (
    accion_id    serial PRIMARY KEY,
    plan_id      integer NOT NULL REFERENCES planes.plan (plan_id) ON DELETE CASCADE,
    tipo         text NOT NULL CHECK (tipo IN ('campana_derivacion', 'punto_nuevo', 'punto_ampliado',
                                               'operativo_registro')),
    descripcion  text NOT NULL DEFAULT '' CHECK (length(descripcion) <= 500),
    institucion  text NOT NULL,
    desde        date NOT NULL,
    hasta        date NOT NULL,
    estado       text NOT NULL DEFAULT 'prevista' CHECK (estado IN ('prevista', 'en_curso', 'cumplida', 'cancelada')),
    meta         integer CHECK (meta IS NULL OR meta >= 0),   -- target count (units referred, registered)
    servicio     text,                                        -- campaign: the service referred to
    localidad    text,                                        -- campaign / drive: where
    punto_tipo   text,                                        -- point: its type
    punto_id     text,                                        -- extended point: the existing one
    lon          double precision,
    lat          double precision,
    capacidad    integer CHECK (capacidad IS NULL OR capacidad > 0),
    costo        numeric CHECK (costo IS NULL OR costo >= 0),
    creado       timestamptz NOT NULL DEFAULT now(),
    modificado   timestamptz NOT NULL DEFAULT now(),
    CHECK (hasta >= desde),
    CHECK (tipo NOT IN ('punto_nuevo', 'punto_ampliado') OR punto_tipo IS NOT NULL),
    CHECK (tipo <> 'punto_nuevo' OR (lon IS NOT NULL AND lat IS NOT NULL AND capacidad IS NOT NULL)),
    CHECK (tipo <> 'campana_derivacion' OR (servicio IS NOT NULL AND meta IS NOT NULL))
);
CREATE INDEX ON planes.accion (plan_id);
CREATE INDEX ON planes.accion (institucion);

CREATE FUNCTION planes.sesion_distritos() RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT string_to_array(nullif(current_setting('geoportal.plan_distritos', true), ''), ',')
$$;
CREATE FUNCTION planes.sesion_institucion() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('geoportal.plan_institucion', true), '')
$$;

ALTER TABLE planes.plan ENABLE ROW LEVEL SECURITY;
ALTER TABLE planes.accion ENABLE ROW LEVEL SECURITY;

-- A Mesa / the Gabinete: the plans of its districts. An institution: the plans of its
-- districts that assign it an action. The function reads actions as its owner (no
-- recursion between the two tables' policies).
CREATE FUNCTION planes.plan_con_accion_de(p integer, inst text) RETURNS boolean LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT EXISTS (SELECT 1 FROM planes.accion a WHERE a.plan_id = p AND a.institucion = inst)
$$;
CREATE POLICY plan_ver ON planes.plan FOR SELECT TO geoportal_nominal
    USING (distrito = ANY (planes.sesion_distritos())
           AND (planes.sesion_institucion() = '*' OR planes.plan_con_accion_de(plan_id, planes.sesion_institucion())));
CREATE POLICY plan_crear ON planes.plan FOR INSERT TO geoportal_nominal
    WITH CHECK (distrito = ANY (planes.sesion_distritos()) AND planes.sesion_institucion() = '*');
CREATE POLICY plan_cambiar ON planes.plan FOR UPDATE TO geoportal_nominal
    USING (distrito = ANY (planes.sesion_distritos()) AND planes.sesion_institucion() = '*')
    WITH CHECK (distrito = ANY (planes.sesion_distritos()) AND planes.sesion_institucion() = '*');
CREATE POLICY plan_borrar ON planes.plan FOR DELETE TO geoportal_nominal
    USING (distrito = ANY (planes.sesion_distritos()) AND planes.sesion_institucion() = '*');

CREATE POLICY accion_ver ON planes.accion FOR SELECT TO geoportal_nominal
    USING (plan_id IN (SELECT p.plan_id FROM planes.plan p)
           AND (planes.sesion_institucion() = '*' OR institucion = planes.sesion_institucion()));
CREATE POLICY accion_escribir ON planes.accion FOR ALL TO geoportal_nominal
    USING (planes.sesion_institucion() = '*' AND plan_id IN (SELECT p.plan_id FROM planes.plan p))
    WITH CHECK (planes.sesion_institucion() = '*' AND plan_id IN (SELECT p.plan_id FROM planes.plan p));

GRANT USAGE ON SCHEMA planes TO geoportal_nominal;
GRANT SELECT, INSERT, UPDATE, DELETE ON planes.plan, planes.accion TO geoportal_nominal;
GRANT USAGE ON SEQUENCE planes.plan_plan_id_seq, planes.accion_accion_id_seq TO geoportal_nominal;
GRANT EXECUTE ON FUNCTION planes.sesion_distritos(), planes.sesion_institucion() TO geoportal_nominal;
REVOKE ALL ON FUNCTION planes.plan_con_accion_de(integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION planes.plan_con_accion_de(integer, text) TO geoportal_nominal;

-- ---------------------------------------------------------------- monitoring
-- Protected shares only (the values the release published), never a count the release
-- did not show: reserved areas are left out, as in publico.cobertura.
CREATE TABLE publico.cifra_historia (
    data_version  text NOT NULL,
    fecha         date NOT NULL,
    nivel         text NOT NULL,
    codigo        text NOT NULL,
    columna       text NOT NULL,
    valor         real NOT NULL,
    PRIMARY KEY (data_version, nivel, codigo, columna)
);
CREATE INDEX ON publico.cifra_historia (nivel, codigo, columna, fecha);
GRANT SELECT ON publico.cifra_historia TO geoportal_publico, geoportal_nominal, geoportal_acceso;

-- ---------------------------------------------------------------- plan alerts
-- Actions past their end date and neither done nor cancelled, for the alerts
-- (geoportal.alertas, read as geoportal_acceso: no right on planes, hence SECURITY DEFINER).
-- The alert names the district's published polygon, so the web's territorial scope applies.
CREATE FUNCTION planes.acciones_vencidas(hoy date) RETURNS TABLE (
    poligono text, distrito text, plan_id integer, titulo text, accion_id integer, tipo text,
    institucion text, hasta date)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT coalesce(d.codigo_2012, 'D' || d.codigo), p.distrito, p.plan_id, p.titulo, a.accion_id, a.tipo,
           a.institucion, a.hasta
      FROM planes.accion a JOIN planes.plan p USING (plan_id) JOIN territorio.distrito d ON d.codigo = p.distrito
     WHERE a.hasta < hoy AND a.estado NOT IN ('cumplida', 'cancelada')
     ORDER BY p.distrito, a.hasta, a.accion_id
$$;
REVOKE ALL ON FUNCTION planes.acciones_vencidas(date) FROM PUBLIC;
GRANT USAGE ON SCHEMA planes TO geoportal_acceso;
GRANT EXECUTE ON FUNCTION planes.acciones_vencidas(date) TO geoportal_acceso;
