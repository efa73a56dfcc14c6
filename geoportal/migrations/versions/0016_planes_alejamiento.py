"""What each plan in course works on (planes.objetivos_en_curso), for the alert of a Logro
moving away from its meta while a plan targets it."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    op.execute(sql_file("0016_planes_alejamiento.sql"))


def downgrade() -> None:
    op.execute("REVOKE SELECT ON publico.version FROM geoportal_acceso")
    op.execute("DROP FUNCTION IF EXISTS planes.objetivos_en_curso(date)")
