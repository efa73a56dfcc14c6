"""Institutional access: acceso schema (users, sessions, login attempts), referral history,
row-level security for the API's nominal role, append-only audit log."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0007"
down_revision = "0004"


def upgrade() -> None:
    op.execute(sql_file("0007_roles.sql"))


def downgrade() -> None:
    op.execute("ALTER TABLE nominal.lote_ingesta DROP CONSTRAINT IF EXISTS lote_ingesta_tipo_check")
    # Contrarreferencias batches do not exist before this revision (their quarantine goes
    # with them): re-adding the older constraint over them was a CheckViolation, and
    # `geoportal db reset` failed once an institution had uploaded a file.
    op.execute("DELETE FROM nominal.lote_ingesta WHERE tipo NOT IN ('hogares', 'personas', 'puntos')")
    op.execute(
        "ALTER TABLE nominal.lote_ingesta ADD CONSTRAINT lote_ingesta_tipo_check"
        " CHECK (tipo IN ('hogares', 'personas', 'puntos'))"
    )
    op.execute("DROP SCHEMA IF EXISTS acceso CASCADE")  # with acceso.cifras_vivas
    op.execute("DROP TRIGGER IF EXISTS auditoria_inmutable ON nominal.auditoria")
    op.execute("DROP TRIGGER IF EXISTS auditoria_sin_truncate ON nominal.auditoria")
    op.execute("DROP TABLE IF EXISTS nominal.derivacion_estado")
    op.execute("DROP TRIGGER IF EXISTS derivacion_abrir ON nominal.derivacion")
    for table in ("hogar", "persona", "estatus_evento", "derivacion", "auditoria"):
        op.execute(f"ALTER TABLE nominal.{table} DISABLE ROW LEVEL SECURITY")
    for policy, table in (
        ("derivacion_ver", "derivacion"),
        ("derivacion_crear", "derivacion"),
        ("hogar_ver", "hogar"),
        ("persona_ver", "persona"),
        ("estatus_ver", "estatus_evento"),
        ("estatus_crear", "estatus_evento"),
        ("auditoria_escribir", "auditoria"),
    ):
        op.execute(f"DROP POLICY IF EXISTS {policy} ON nominal.{table}")
    op.execute(
        "DROP FUNCTION IF EXISTS nominal.derivacion_abrir(), nominal.derivacion_cambiar(),"
        " nominal.auditoria_inmutable(), nominal.sesion_distritos(), nominal.sesion_institucion()"
    )
    op.execute("DROP INDEX IF EXISTS nominal.derivacion_abierta")
    op.execute("ALTER TABLE nominal.derivacion DROP CONSTRAINT IF EXISTS derivacion_estado_check")
    op.execute(
        "ALTER TABLE nominal.derivacion DROP COLUMN hogar_id, DROP COLUMN distrito, DROP COLUMN institucion,"
        " DROP COLUMN punto_id, DROP COLUMN brecha, DROP COLUMN nota, DROP COLUMN actualizada"
    )
    op.execute("REVOKE ALL ON ALL TABLES IN SCHEMA nominal, territorio, oferta, publico FROM geoportal_nominal")
    op.execute("REVOKE ALL ON ALL SEQUENCES IN SCHEMA nominal FROM geoportal_nominal")
    op.execute("REVOKE ALL ON SCHEMA nominal, territorio, oferta, publico FROM geoportal_nominal")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA territorio, oferta, publico REVOKE SELECT ON TABLES FROM geoportal_nominal"
    )
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA publico REVOKE SELECT ON TABLES FROM geoportal_acceso")
    op.execute("REVOKE ALL ON ALL TABLES IN SCHEMA territorio, publico FROM geoportal_acceso")
    op.execute("REVOKE ALL ON SCHEMA territorio, publico FROM geoportal_acceso")
