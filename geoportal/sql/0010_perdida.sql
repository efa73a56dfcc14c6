-- Exact information loss of the disclosure control for authorised aggregate roles.
-- calculo.sdc_perdida (national, by level and zone: share of areas and households reserved,
-- share of counts changed by rounding, mean absolute change; no per-area figure) stays
-- unreadable to every API role; the public keeps its coarse whole-percent
-- publico.sdc_perdida. The login/session role geoportal_acceso reads the exact table only
-- through this function (SECURITY DEFINER, as acceso.cifras_vivas), so it needs no right on
-- calculo, whose unprotected counts it never sees. api/alertas.py checks the caller's role.
-- Without a version: the current public release (publico.version WHERE vigente).
CREATE FUNCTION acceso.perdida_exacta(version_pedida text DEFAULT NULL)
RETURNS TABLE (data_version text, nivel text, zona text, areas integer,
               areas_reservadas_pct double precision, hogares_en_reservadas_pct double precision,
               cifras_cambiadas_pct double precision, cambio_absoluto_medio double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT p.data_version, p.nivel, p.zona, p.areas, p.areas_reservadas_pct, p.hogares_en_reservadas_pct,
           p.cifras_cambiadas_pct, p.cambio_absoluto_medio
      FROM calculo.sdc_perdida p
     WHERE p.data_version = coalesce(version_pedida, (SELECT v.data_version FROM publico.version v WHERE v.vigente))
     ORDER BY p.nivel, p.zona
$$;
REVOKE ALL ON FUNCTION acceso.perdida_exacta(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION acceso.perdida_exacta(text) TO geoportal_acceso;
