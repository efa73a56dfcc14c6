-- Status events carry the 2022 district of their unit (nominal.estatus_evento.codigo_distrito).
--
-- Why: a district's events used to be found through its households and persons, and the
-- Row-Level Security policy of the API role found them through the whole persona table
-- (a hashed sub-plan over ~6 M rows, 1.6 s per read at national scale as soon as one
-- person had an event). With the district on the event, the Mesa's list, the
-- incremental recompute and the policy read one index range.
--
-- Kept true by triggers, whoever writes: an inserted event takes its unit's district; a
-- household that changes district takes its and its members' events along; a person who
-- changes household too; an event that arrived before its unit (NULL district) gets it
-- when the unit is loaded.

ALTER TABLE nominal.estatus_evento ADD COLUMN codigo_distrito text;

UPDATE nominal.estatus_evento e SET codigo_distrito = h.codigo_distrito
  FROM nominal.hogar h WHERE e.unidad = 'hogar' AND h.hogar_id = e.unidad_id;
UPDATE nominal.estatus_evento e SET codigo_distrito = h.codigo_distrito
  FROM nominal.persona p JOIN nominal.hogar h ON h.hogar_id = p.hogar_id
 WHERE e.unidad = 'persona' AND p.persona_id = e.unidad_id;

CREATE INDEX estatus_evento_distrito ON nominal.estatus_evento (codigo_distrito);
CREATE INDEX estatus_evento_sin_distrito ON nominal.estatus_evento (evento_id) WHERE codigo_distrito IS NULL;

-- The district of a unit, read with the owner's rights (the API role inserting a
-- contrarreferencia sees only its own rows, and the answer is only stored on the event).
CREATE FUNCTION nominal.distrito_de_unidad(p_unidad text, p_unidad_id text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, nominal AS $$
    SELECT CASE p_unidad
        WHEN 'hogar' THEN (SELECT h.codigo_distrito FROM nominal.hogar h WHERE h.hogar_id = p_unidad_id)
        ELSE (SELECT h.codigo_distrito FROM nominal.persona p JOIN nominal.hogar h ON h.hogar_id = p.hogar_id
               WHERE p.persona_id = p_unidad_id)
    END
$$;

CREATE FUNCTION nominal.evento_distrito() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, nominal AS $$
BEGIN
    NEW.codigo_distrito := nominal.distrito_de_unidad(NEW.unidad, NEW.unidad_id);
    RETURN NEW;
END $$;
CREATE TRIGGER evento_distrito BEFORE INSERT OR UPDATE OF unidad, unidad_id, codigo_distrito ON nominal.estatus_evento
    FOR EACH ROW EXECUTE FUNCTION nominal.evento_distrito();

CREATE FUNCTION nominal.hogar_mudado() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, nominal AS $$
BEGIN
    UPDATE nominal.estatus_evento SET codigo_distrito = NEW.codigo_distrito
     WHERE (unidad = 'hogar' AND unidad_id = NEW.hogar_id)
        OR (unidad = 'persona' AND unidad_id IN (SELECT persona_id FROM nominal.persona WHERE hogar_id = NEW.hogar_id));
    RETURN NULL;
END $$;
CREATE TRIGGER hogar_mudado AFTER UPDATE OF codigo_distrito ON nominal.hogar
    FOR EACH ROW WHEN (OLD.codigo_distrito IS DISTINCT FROM NEW.codigo_distrito)
    EXECUTE FUNCTION nominal.hogar_mudado();

CREATE FUNCTION nominal.persona_mudada() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, nominal AS $$
BEGIN
    UPDATE nominal.estatus_evento SET codigo_distrito = NULL  -- the BEFORE trigger looks it up
     WHERE unidad = 'persona' AND unidad_id = NEW.persona_id;
    RETURN NULL;
END $$;
CREATE TRIGGER persona_mudada AFTER UPDATE OF hogar_id ON nominal.persona
    FOR EACH ROW WHEN (OLD.hogar_id IS DISTINCT FROM NEW.hogar_id)
    EXECUTE FUNCTION nominal.persona_mudada();

-- Units loaded after their events: one statement-level pass over the (few) events
-- still without a district, through the partial index.
CREATE FUNCTION nominal.eventos_pendientes() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, nominal AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM nominal.estatus_evento WHERE codigo_distrito IS NULL) THEN
        UPDATE nominal.estatus_evento SET codigo_distrito = NULL WHERE codigo_distrito IS NULL;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER eventos_pendientes AFTER INSERT ON nominal.hogar
    FOR EACH STATEMENT EXECUTE FUNCTION nominal.eventos_pendientes();
CREATE TRIGGER eventos_pendientes AFTER INSERT ON nominal.persona
    FOR EACH STATEMENT EXECUTE FUNCTION nominal.eventos_pendientes();

-- The API role's view of events: those of its districts; an institution's, only of the
-- units of the referrals it may see (as the hogar / persona policies).
DROP POLICY estatus_ver ON nominal.estatus_evento;
CREATE POLICY estatus_ver ON nominal.estatus_evento FOR SELECT TO geoportal_nominal
    USING (codigo_distrito = ANY (nominal.sesion_distritos())
           AND (nominal.sesion_institucion() = '*'
                OR (unidad = 'hogar' AND unidad_id IN (SELECT d.hogar_id FROM nominal.derivacion d))
                OR (unidad = 'persona'
                    AND unidad_id IN (SELECT d.unidad_id FROM nominal.derivacion d WHERE d.unidad = 'persona'))));

-- The country's outline, dissolved once (0.26 s per dissolve, which every district
-- update paid for the pais row); refreshed by `geoportal territorio cargar`.
CREATE MATERIALIZED VIEW territorio.pais AS
SELECT ST_Multi(ST_Union(geom))::geometry(MultiPolygon, 4326) AS geom FROM territorio.departamento;
