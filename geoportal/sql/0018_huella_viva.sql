-- Each row of the live protected table carries a hash of what it shows (every value but
-- its data_version, geoportal/tabla_viva.py): a district update rewrites only the rows
-- whose hash changed. The table is re-created by each national computation and public
-- release with the column; this adds it to a table made before (NULL: rewritten once).
ALTER TABLE IF EXISTS calculo.cobertura_viva ADD COLUMN IF NOT EXISTS huella bigint;

-- The live figures' door leaves it out, as the geometry and the primary-suppression flag.
CREATE OR REPLACE FUNCTION acceso.cifras_vivas(niveles text[], area text DEFAULT NULL) RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    tabla regclass := coalesce(to_regclass('calculo.cobertura_viva'), to_regclass('publico.cobertura'));
    columnas text;
BEGIN
    IF tabla IS NULL THEN
        RETURN;
    END IF;
    -- never the geometry (heavy), the primary-suppression flag nor the row hash
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO columnas FROM pg_attribute
     WHERE attrelid = tabla AND attnum > 0 AND NOT attisdropped AND attname NOT IN ('geom', 'primaria', 'huella');
    RETURN QUERY EXECUTE format(
        'SELECT to_jsonb(r) FROM (SELECT %s FROM %s c WHERE c.nivel = ANY ($1) AND ($2 IS NULL OR c.codigo = $2)) r',
        columnas, tabla) USING niveles, area;
END $$;
