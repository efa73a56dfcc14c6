"""A hash of each live protected row (calculo.cobertura_viva.huella): district updates
rewrite only the rows that changed."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0018"
down_revision = "0017"


def upgrade() -> None:
    op.execute(sql_file("0018_huella_viva.sql"))


def downgrade() -> None:
    op.execute("ALTER TABLE IF EXISTS calculo.cobertura_viva DROP COLUMN IF EXISTS huella")
    op.execute(
        "CREATE OR REPLACE FUNCTION acceso.cifras_vivas(niveles text[], area text DEFAULT NULL) RETURNS SETOF jsonb"
        " LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$"
        " DECLARE tabla regclass := coalesce(to_regclass('calculo.cobertura_viva'), to_regclass('publico.cobertura'));"
        " columnas text;"
        " BEGIN IF tabla IS NULL THEN RETURN; END IF;"
        " SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO columnas FROM pg_attribute"
        " WHERE attrelid = tabla AND attnum > 0 AND NOT attisdropped AND attname NOT IN ('geom', 'primaria');"
        " RETURN QUERY EXECUTE format('SELECT to_jsonb(r) FROM (SELECT %s FROM %s c WHERE c.nivel = ANY ($1)"
        " AND ($2 IS NULL OR c.codigo = $2)) r', columnas, tabla) USING niveles, area; END $$"
    )
