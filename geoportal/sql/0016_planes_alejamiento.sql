-- What each plan in course works on, for the alert "a Logro moving away from its meta while a
-- plan targets it" (geoportal.alertas.plan_alerts, read as geoportal_acceso: no right on
-- planes, hence SECURITY DEFINER). One row per action not cancelled of a plan whose period has
-- not ended: its service (a referral campaign) or point type (a new or extended point); the
-- Logros they serve are read from the catalog in Python. Keyed by the district's published
-- polygon, so the web's territorial scope applies. No nominal data.
CREATE FUNCTION planes.objetivos_en_curso(hoy date) RETURNS TABLE (
    poligono text, distrito text, plan_id integer, titulo text, creado date, servicio text, punto_tipo text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT coalesce(d.codigo_2012, 'D' || d.codigo), p.distrito, p.plan_id, p.titulo, p.creado::date,
           a.servicio, a.punto_tipo
      FROM planes.accion a JOIN planes.plan p USING (plan_id) JOIN territorio.distrito d ON d.codigo = p.distrito
     WHERE a.estado <> 'cancelada' AND p.periodo_hasta >= hoy
       AND (a.servicio IS NOT NULL OR a.punto_tipo IS NOT NULL)
     ORDER BY p.distrito, p.plan_id, a.accion_id
$$;
REVOKE ALL ON FUNCTION planes.objetivos_en_curso(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION planes.objetivos_en_curso(date) TO geoportal_acceso;
-- The releases' own order (several may share a day): the public list of versions, public data.
GRANT SELECT ON publico.version TO geoportal_acceso;
