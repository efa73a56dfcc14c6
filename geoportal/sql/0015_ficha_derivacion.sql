-- What a health worker needs to find and serve a person referred to its institution, and
-- no more (issue 22, point 12): the household's locality and address reference, and for a
-- child (under 18 years) the guardian.
--   nominal.hogar.referencia : the FIPS address / reference text of the dwelling ("casa
--                              n.º 12, frente a la capilla"); '' when the FIPS has none.
--                              The demo's is synthetic (geoportal.synthetic), marked so.
--   nominal.ficha_derivaciones(ids) : the only way an institution reads a guardian. RLS
--                              lets it see the referred person alone (persona_ver), never
--                              the other members; this SECURITY DEFINER function names one
--                              of them, for its own referrals only, and logs every call.
-- Guardian rule (the FIPS records no kinship): the eldest member of the child's household
-- aged 18 or more, ties by persona_id. In the FIPS listing the head is usually that person;
-- a child with no adult in the household has no guardian shown (NULL).

ALTER TABLE nominal.hogar ADD COLUMN IF NOT EXISTS referencia text NOT NULL DEFAULT '';

CREATE FUNCTION nominal.ficha_derivaciones(ids bigint[])
RETURNS TABLE (derivacion_id bigint, localidad text, referencia text, responsable text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, nominal AS $$
#variable_conflict use_column
DECLARE
    inst text := nominal.sesion_institucion();
    dists text[] := nominal.sesion_distritos();
    n integer;
BEGIN
    -- an institution's own referrals, in its own districts: a Mesa ('*') or an unset scope gets nothing
    IF inst IS NULL OR inst = '*' OR dists IS NULL THEN
        RAISE EXCEPTION 'la ficha de una derivación es solo para la institución que la recibe'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY
    SELECT d.derivacion_id, h.localidad, h.referencia,
           CASE WHEN p.fecha_nacimiento > current_date - interval '18 years' THEN g.nombre END
      FROM nominal.derivacion d
      JOIN nominal.hogar h ON h.hogar_id = d.hogar_id
      LEFT JOIN nominal.persona p ON d.unidad = 'persona' AND p.persona_id = d.unidad_id
      LEFT JOIN LATERAL (
          SELECT a.nombres || ' ' || a.apellidos AS nombre FROM nominal.persona a
           WHERE a.hogar_id = d.hogar_id AND a.persona_id <> d.unidad_id
             AND a.fecha_nacimiento <= current_date - interval '18 years'
           ORDER BY a.fecha_nacimiento, a.persona_id LIMIT 1) g ON d.unidad = 'persona'
     WHERE d.derivacion_id = ANY (ids) AND d.institucion = inst AND d.distrito = ANY (dists)
     ORDER BY d.derivacion_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    -- the read and its audit row are one: no call of this function goes unlogged
    INSERT INTO nominal.auditoria (usuario, rol, accion, territorio, detalle)
    VALUES (coalesce(nullif(current_setting('geoportal.usuario', true), ''), session_user::text),
            coalesce(nullif(current_setting('geoportal.rol', true), ''), 'sistema'),
            'ver_ficha_derivacion', array_to_string(dists, ','),
            jsonb_build_object('finalidad', 'seguimiento', 'filas', n, 'pedidas', cardinality(ids)));
END $$;
REVOKE ALL ON FUNCTION nominal.ficha_derivaciones(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION nominal.ficha_derivaciones(bigint[]) TO geoportal_nominal;
