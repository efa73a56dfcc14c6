-- Districts whose figures wait for a recompute (issue 21, item 15).
--
-- A delivered contrarreferencia writes its status event and marks its district pending in
-- the same transaction (nominal.marcar_distrito_pendiente), and the request answers at
-- once. The API's background worker (geoportal.operaciones.drain_pending) recomputes each
-- pending district once, however many events wait on it, and deletes the marker only if
-- no event came after it read it (marca unchanged). A marker outlives any crash: it is
-- picked up at the next start-up or drain, and by `geoportal calcular` / `publicar`.
CREATE SEQUENCE calculo.distrito_pendiente_marca_seq;
CREATE TABLE calculo.distrito_pendiente (
    distrito     text PRIMARY KEY REFERENCES territorio.distrito (codigo),
    desde        timestamptz NOT NULL DEFAULT now(),  -- the oldest event waiting
    marca        bigint NOT NULL DEFAULT nextval('calculo.distrito_pendiente_marca_seq'),  -- the latest one
    intentos     integer NOT NULL DEFAULT 0,           -- failed recomputes since the latest event
    reintentar   timestamptz NOT NULL DEFAULT now(),   -- not before (back-off after a failure)
    error        text                                  -- the last failure's class, never data
);

-- The API roles get no right on calculo: two SECURITY DEFINER doors, like acceso.cifras_vivas.
-- The nominal role marks a district of its session's scope (RLS already checked the event).
CREATE FUNCTION nominal.marcar_distrito_pendiente(codigo text) RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    desde_ timestamptz;
BEGIN
    IF NOT codigo = ANY (coalesce(nominal.sesion_distritos(), '{}')) THEN
        RAISE EXCEPTION 'distrito fuera del alcance de la sesión' USING ERRCODE = 'GP403';
    END IF;
    INSERT INTO calculo.distrito_pendiente AS p (distrito) VALUES (codigo)
    ON CONFLICT ON CONSTRAINT distrito_pendiente_pkey DO UPDATE
        SET marca = nextval('calculo.distrito_pendiente_marca_seq'), intentos = 0, reintentar = now(), error = NULL
    RETURNING p.desde INTO desde_;
    -- delivered at commit to the worker LISTENing; the payload is the district code only
    PERFORM pg_notify('geoportal_distrito_pendiente', codigo);
    RETURN desde_;
END $$;
REVOKE ALL ON FUNCTION nominal.marcar_distrito_pendiente(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION nominal.marcar_distrito_pendiente(text) TO geoportal_nominal;

-- Who may see figures asks which districts are still being updated ("actualizando").
CREATE FUNCTION acceso.distritos_pendientes()
RETURNS TABLE (distrito text, desde timestamptz, intentos integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT distrito, desde, intentos FROM calculo.distrito_pendiente ORDER BY distrito
$$;
REVOKE ALL ON FUNCTION acceso.distritos_pendientes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION acceso.distritos_pendientes() TO geoportal_acceso, geoportal_nominal;
