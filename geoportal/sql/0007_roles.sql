-- Institutional access: users, sessions, the referral cycle and defence in depth.
--   acceso  : users (argon2 hashes), server-side sessions, login attempts; never public
--   nominal : derivacion extended (district, institution, point), its state history
-- Database roles (created NOLOGIN here; `geoportal db up` gives them a password):
--   geoportal_nominal : what the API uses for nominal data. Row-Level Security limits it to
--                       the districts / institution set per transaction by api/acceso.py
--                       (set_config('geoportal.distritos' | 'geoportal.institucion', v, true));
--                       unset means no rows. It may only INSERT into the audit log.
--   geoportal_acceso  : what the API uses for logins and sessions; no nominal data, reads
--                       the audit log only through the admin view acceso.auditoria.

CREATE SCHEMA IF NOT EXISTS acceso;
REVOKE ALL ON SCHEMA acceso FROM PUBLIC;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'geoportal_nominal') THEN
        CREATE ROLE geoportal_nominal NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'geoportal_acceso') THEN
        CREATE ROLE geoportal_acceso NOLOGIN;
    END IF;
END $$;

-- ---------------------------------------------------------------- users and sessions
CREATE TABLE acceso.usuario (
    usuario_id       serial PRIMARY KEY,
    nombre           text NOT NULL UNIQUE CHECK (nombre ~ '^[a-z0-9._-]{3,64}$'),
    nombre_completo  text NOT NULL DEFAULT '',
    rol              text NOT NULL CHECK (rol IN ('gabinete', 'mesa_departamental', 'mesa_distrital', 'institucion', 'admin')),
    departamento     text REFERENCES territorio.departamento (codigo),
    distrito         text REFERENCES territorio.distrito (codigo),
    institucion      text,
    distritos        text[] NOT NULL DEFAULT '{}',  -- institucion: the 2022 districts assigned to it
    clave_hash       text NOT NULL,                 -- argon2id, never the password
    activo           boolean NOT NULL DEFAULT true,
    creado           timestamptz NOT NULL DEFAULT now(),
    modificado       timestamptz NOT NULL DEFAULT now(),
    CHECK (rol <> 'mesa_departamental' OR departamento IS NOT NULL),
    CHECK (rol <> 'mesa_distrital' OR distrito IS NOT NULL),
    CHECK (rol <> 'institucion' OR (institucion IS NOT NULL AND cardinality(distritos) > 0))
);

-- The cookie carries a random token; only its SHA-256 is stored, so a copy of this table
-- opens no session.
CREATE TABLE acceso.sesion (
    token_hash  text PRIMARY KEY,
    usuario_id  integer NOT NULL REFERENCES acceso.usuario (usuario_id),
    csrf        text NOT NULL,
    creada      timestamptz NOT NULL DEFAULT now(),
    ultima      timestamptz NOT NULL DEFAULT now(),
    expira      timestamptz NOT NULL,
    cerrada     timestamptz
);
CREATE INDEX ON acceso.sesion (usuario_id);

-- Every login attempt, known user name or not (lockout counts per name and per address).
CREATE TABLE acceso.intento_ingreso (
    intento_id  bigserial PRIMARY KEY,
    nombre      text NOT NULL,
    ip          text NOT NULL,
    momento     timestamptz NOT NULL DEFAULT now(),
    exito       boolean NOT NULL
);
CREATE INDEX ON acceso.intento_ingreso (nombre, momento);
CREATE INDEX ON acceso.intento_ingreso (ip, momento);

-- Shares of each version (pais, departamento, distrito), so alerts can compare versions.
CREATE TABLE acceso.cifra_version (
    data_version  text NOT NULL,
    nivel         text NOT NULL,
    codigo        text NOT NULL,
    columna       text NOT NULL,
    valor         real NOT NULL,
    registrada    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (data_version, nivel, codigo, columna)
);

-- ---------------------------------------------------------------- referrals
ALTER TABLE nominal.derivacion DROP CONSTRAINT IF EXISTS derivacion_estado_check;
UPDATE nominal.derivacion SET estado = CASE estado WHEN 'atendida' THEN 'entregada' WHEN 'rechazada' THEN 'no_entregada' ELSE estado END;
ALTER TABLE nominal.derivacion
    ADD COLUMN hogar_id     text,
    ADD COLUMN distrito     text,
    ADD COLUMN institucion  text,
    ADD COLUMN punto_id     text,
    ADD COLUMN brecha       text CHECK (brecha IN ('derivacion', 'inversion')),
    ADD COLUMN nota         text NOT NULL DEFAULT '',
    ADD COLUMN actualizada  timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT derivacion_estado_check
        CHECK (estado IN ('referida', 'entregada', 'no_entregada', 'no_localizada'));
UPDATE nominal.derivacion d SET hogar_id = CASE WHEN d.unidad = 'hogar' THEN d.unidad_id
    ELSE (SELECT p.hogar_id FROM nominal.persona p WHERE p.persona_id = d.unidad_id) END;
UPDATE nominal.derivacion d SET distrito = h.codigo_distrito FROM nominal.hogar h WHERE h.hogar_id = d.hogar_id;
UPDATE nominal.derivacion d SET institucion = '' WHERE institucion IS NULL;
ALTER TABLE nominal.derivacion ALTER COLUMN hogar_id SET NOT NULL, ALTER COLUMN distrito SET NOT NULL,
    ALTER COLUMN institucion SET NOT NULL;
CREATE INDEX ON nominal.derivacion (distrito, institucion);
CREATE INDEX ON nominal.derivacion (hogar_id);
CREATE INDEX ON nominal.derivacion (unidad, unidad_id);
-- One open referral per unit and service.
CREATE UNIQUE INDEX derivacion_abierta ON nominal.derivacion (unidad, unidad_id, servicio) WHERE estado = 'referida';

-- Every state a referral went through; nothing is deleted or rewritten.
CREATE TABLE nominal.derivacion_estado (
    historia_id    bigserial PRIMARY KEY,
    derivacion_id  bigint NOT NULL REFERENCES nominal.derivacion (derivacion_id),
    estado         text NOT NULL CHECK (estado IN ('referida', 'entregada', 'no_entregada', 'no_localizada')),
    fecha          date NOT NULL,
    punto_id       text,
    nota           text NOT NULL DEFAULT '',
    usuario        text NOT NULL,
    rol            text NOT NULL,
    registrado     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON nominal.derivacion_estado (derivacion_id);
INSERT INTO nominal.derivacion_estado (derivacion_id, estado, fecha, usuario, rol)
SELECT derivacion_id, estado, creada::date, usuario, 'migracion' FROM nominal.derivacion;

-- A new referral opens its history; a contrarreferencia closes an open referral (and only
-- an open one: the row lock makes two simultaneous ones queue, the second fails).
-- SECURITY DEFINER: the API role inserts history, never updates a referral itself.
CREATE FUNCTION nominal.derivacion_abrir() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, nominal AS $$
BEGIN
    INSERT INTO nominal.derivacion_estado (derivacion_id, estado, fecha, punto_id, nota, usuario, rol)
    VALUES (NEW.derivacion_id, 'referida', NEW.creada::date, NEW.punto_id, NEW.nota, NEW.usuario,
            coalesce(nullif(current_setting('geoportal.rol', true), ''), 'sistema'));
    RETURN NULL;
END $$;
CREATE TRIGGER derivacion_abrir AFTER INSERT ON nominal.derivacion
    FOR EACH ROW EXECUTE FUNCTION nominal.derivacion_abrir();

CREATE FUNCTION nominal.derivacion_cambiar() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, nominal AS $$
DECLARE
    actual text;
BEGIN
    IF NEW.estado = 'referida' THEN
        IF EXISTS (SELECT 1 FROM nominal.derivacion_estado WHERE derivacion_id = NEW.derivacion_id) THEN
            RAISE EXCEPTION 'la derivación % ya está abierta', NEW.derivacion_id USING ERRCODE = 'GP409';
        END IF;
        RETURN NEW;
    END IF;
    SELECT estado INTO actual FROM nominal.derivacion WHERE derivacion_id = NEW.derivacion_id FOR UPDATE;
    IF actual IS DISTINCT FROM 'referida' THEN
        RAISE EXCEPTION 'la derivación % ya tiene contrarreferencia (%)', NEW.derivacion_id, actual USING ERRCODE = 'GP409';
    END IF;
    UPDATE nominal.derivacion SET estado = NEW.estado, actualizada = now() WHERE derivacion_id = NEW.derivacion_id;
    RETURN NEW;
END $$;
CREATE TRIGGER derivacion_cambiar BEFORE INSERT ON nominal.derivacion_estado
    FOR EACH ROW EXECUTE FUNCTION nominal.derivacion_cambiar();

-- ---------------------------------------------------------------- audit: append-only
CREATE FUNCTION nominal.auditoria_inmutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'el registro de auditoría no se modifica ni se borra' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER auditoria_inmutable BEFORE UPDATE OR DELETE ON nominal.auditoria
    FOR EACH ROW EXECUTE FUNCTION nominal.auditoria_inmutable();
CREATE TRIGGER auditoria_sin_truncate BEFORE TRUNCATE ON nominal.auditoria
    FOR EACH STATEMENT EXECUTE FUNCTION nominal.auditoria_inmutable();

-- The admin's window on the log (a view runs with its owner's rights).
CREATE VIEW acceso.auditoria AS
SELECT auditoria_id, momento, usuario, rol, accion, territorio,
       detalle->>'finalidad' AS finalidad, (detalle->>'filas')::integer AS filas, detalle
  FROM nominal.auditoria;

-- ---------------------------------------------------------------- row-level security
-- The session's scope, as set by api/acceso.py for the current transaction only.
CREATE FUNCTION nominal.sesion_distritos() RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT string_to_array(nullif(current_setting('geoportal.distritos', true), ''), ',')
$$;
-- '*' for a Mesa (every service of its districts), an institution's code, or NULL: nothing.
CREATE FUNCTION nominal.sesion_institucion() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('geoportal.institucion', true), '')
$$;

ALTER TABLE nominal.hogar ENABLE ROW LEVEL SECURITY;
ALTER TABLE nominal.persona ENABLE ROW LEVEL SECURITY;
ALTER TABLE nominal.estatus_evento ENABLE ROW LEVEL SECURITY;
ALTER TABLE nominal.derivacion ENABLE ROW LEVEL SECURITY;
ALTER TABLE nominal.derivacion_estado ENABLE ROW LEVEL SECURITY;
ALTER TABLE nominal.auditoria ENABLE ROW LEVEL SECURITY;

CREATE POLICY derivacion_ver ON nominal.derivacion FOR SELECT TO geoportal_nominal
    USING (distrito = ANY (nominal.sesion_distritos())
           AND (nominal.sesion_institucion() = '*' OR institucion = nominal.sesion_institucion()));
-- Only a Mesa refers, and only within its districts.
CREATE POLICY derivacion_crear ON nominal.derivacion FOR INSERT TO geoportal_nominal
    WITH CHECK (distrito = ANY (nominal.sesion_distritos()) AND nominal.sesion_institucion() = '*');

CREATE POLICY hogar_ver ON nominal.hogar FOR SELECT TO geoportal_nominal
    USING (codigo_distrito = ANY (nominal.sesion_distritos())
           AND (nominal.sesion_institucion() = '*'
                OR hogar_id IN (SELECT d.hogar_id FROM nominal.derivacion d)));
CREATE POLICY persona_ver ON nominal.persona FOR SELECT TO geoportal_nominal
    USING (hogar_id IN (SELECT h.hogar_id FROM nominal.hogar h)
           AND (nominal.sesion_institucion() = '*'
                OR persona_id IN (SELECT d.unidad_id FROM nominal.derivacion d WHERE d.unidad = 'persona')));

CREATE POLICY estatus_ver ON nominal.estatus_evento FOR SELECT TO geoportal_nominal
    USING ((unidad = 'hogar' AND unidad_id IN (SELECT h.hogar_id FROM nominal.hogar h))
           OR (unidad = 'persona' AND unidad_id IN (SELECT p.persona_id FROM nominal.persona p)));
-- A status event from the API is a delivered contrarreferencia of a visible referral.
CREATE POLICY estatus_crear ON nominal.estatus_evento FOR INSERT TO geoportal_nominal
    WITH CHECK (nominal.sesion_institucion() <> '*' AND fuente LIKE 'contrarreferencia:%'
                AND EXISTS (SELECT 1 FROM nominal.derivacion d WHERE d.unidad = estatus_evento.unidad
                            AND d.unidad_id = estatus_evento.unidad_id AND d.servicio = estatus_evento.servicio));

CREATE POLICY historia_ver ON nominal.derivacion_estado FOR SELECT TO geoportal_nominal
    USING (derivacion_id IN (SELECT d.derivacion_id FROM nominal.derivacion d));
-- Contrarreferencias come from the institution the referral is addressed to.
CREATE POLICY historia_crear ON nominal.derivacion_estado FOR INSERT TO geoportal_nominal
    WITH CHECK (estado <> 'referida' AND nominal.sesion_institucion() <> '*'
                AND derivacion_id IN (SELECT d.derivacion_id FROM nominal.derivacion d));

CREATE POLICY auditoria_escribir ON nominal.auditoria FOR INSERT TO geoportal_nominal WITH CHECK (true);

-- ---------------------------------------------------------------- grants
GRANT USAGE ON SCHEMA nominal, territorio, oferta, publico TO geoportal_nominal;
GRANT SELECT ON nominal.hogar, nominal.persona, nominal.estatus_evento, nominal.derivacion,
    nominal.derivacion_estado TO geoportal_nominal;
GRANT INSERT ON nominal.derivacion, nominal.derivacion_estado, nominal.estatus_evento, nominal.auditoria
    TO geoportal_nominal;
GRANT USAGE ON SEQUENCE nominal.derivacion_derivacion_id_seq, nominal.derivacion_estado_historia_id_seq,
    nominal.estatus_evento_evento_id_seq, nominal.auditoria_auditoria_id_seq TO geoportal_nominal;
GRANT SELECT ON ALL TABLES IN SCHEMA territorio, oferta, publico TO geoportal_nominal;
ALTER DEFAULT PRIVILEGES IN SCHEMA territorio, oferta, publico GRANT SELECT ON TABLES TO geoportal_nominal;
GRANT EXECUTE ON FUNCTION nominal.sesion_distritos(), nominal.sesion_institucion() TO geoportal_nominal;

GRANT USAGE ON SCHEMA acceso, territorio TO geoportal_acceso;
GRANT SELECT ON acceso.usuario, acceso.auditoria, acceso.cifra_version TO geoportal_acceso;
GRANT SELECT, INSERT, UPDATE ON acceso.sesion TO geoportal_acceso;
GRANT SELECT, INSERT ON acceso.intento_ingreso TO geoportal_acceso;
GRANT USAGE ON SEQUENCE acceso.intento_ingreso_intento_id_seq TO geoportal_acceso;
GRANT USAGE ON SCHEMA publico TO geoportal_acceso;
GRANT SELECT ON ALL TABLES IN SCHEMA territorio, publico TO geoportal_acceso;
ALTER DEFAULT PRIVILEGES IN SCHEMA publico GRANT SELECT ON TABLES TO geoportal_acceso;

-- ---------------------------------------------------------------- live protected figures
-- Authorised aggregate roles read the live protected figures (calculo.cobertura_viva, or
-- publico.cobertura where no live table exists yet) through this function only: dynamic SQL, so it
-- holds no dependency on a table that each computation replaces, and SECURITY DEFINER,
-- so geoportal_acceso needs no right on calculo (whose unprotected counts it never sees).
CREATE FUNCTION acceso.cifras_vivas(niveles text[], area text DEFAULT NULL) RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    tabla regclass := coalesce(to_regclass('calculo.cobertura_viva'), to_regclass('publico.cobertura'));
    columnas text;
BEGIN
    IF tabla IS NULL THEN
        RETURN;
    END IF;
    -- never the geometry (heavy) nor the primary-suppression flag
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO columnas FROM pg_attribute
     WHERE attrelid = tabla AND attnum > 0 AND NOT attisdropped AND attname NOT IN ('geom', 'primaria');
    RETURN QUERY EXECUTE format(
        'SELECT to_jsonb(r) FROM (SELECT %s FROM %s c WHERE c.nivel = ANY ($1) AND ($2 IS NULL OR c.codigo = $2)) r',
        columnas, tabla) USING niveles, area;
END $$;
REVOKE ALL ON FUNCTION acceso.cifras_vivas(text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION acceso.cifras_vivas(text[], text) TO geoportal_acceso;

-- ---------------------------------------------------------------- bulk contrarreferencias
-- An institution's CSV of contrarreferencias is one ingest batch: rows applied, unchanged
-- (already recorded with the same outcome) or quarantined with their reason.
ALTER TABLE nominal.lote_ingesta DROP CONSTRAINT IF EXISTS lote_ingesta_tipo_check;
ALTER TABLE nominal.lote_ingesta ADD CONSTRAINT lote_ingesta_tipo_check
    CHECK (tipo IN ('hogares', 'personas', 'puntos', 'contrarreferencias'));
GRANT SELECT, INSERT ON nominal.lote_ingesta TO geoportal_nominal;
GRANT INSERT ON nominal.cuarentena TO geoportal_nominal;
GRANT USAGE ON SEQUENCE nominal.lote_ingesta_lote_id_seq TO geoportal_nominal;
