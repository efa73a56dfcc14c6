"""Faster district updates: status events carry their unit's district (kept by triggers;
RLS and district reads use it), and the country outline is dissolved once (territorio.pais)."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0009"
down_revision = "0007"


def upgrade() -> None:
    op.execute(sql_file("0009_actualizacion_rapida.sql"))


def downgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW IF EXISTS territorio.pais")
    op.execute("DROP POLICY IF EXISTS estatus_ver ON nominal.estatus_evento")
    op.execute(
        "CREATE POLICY estatus_ver ON nominal.estatus_evento FOR SELECT TO geoportal_nominal"
        " USING ((unidad = 'hogar' AND unidad_id IN (SELECT h.hogar_id FROM nominal.hogar h))"
        " OR (unidad = 'persona' AND unidad_id IN (SELECT p.persona_id FROM nominal.persona p)))"
    )
    for trigger, table in (
        ("eventos_pendientes", "hogar"),
        ("eventos_pendientes", "persona"),
        ("persona_mudada", "persona"),
        ("hogar_mudado", "hogar"),
        ("evento_distrito", "estatus_evento"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON nominal.{table}")
    op.execute(
        "DROP FUNCTION IF EXISTS nominal.eventos_pendientes(), nominal.persona_mudada(),"
        " nominal.hogar_mudado(), nominal.evento_distrito(), nominal.distrito_de_unidad(text, text)"
    )
    op.execute("ALTER TABLE nominal.estatus_evento DROP COLUMN IF EXISTS codigo_distrito")
