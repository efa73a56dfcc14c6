"""Districts pending a recompute after a contrarreferencia (calculo.distrito_pendiente) and
the two SECURITY DEFINER doors of the API roles to it."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.execute(sql_file("0012_distrito_pendiente.sql"))


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS acceso.distritos_pendientes()")
    op.execute("DROP FUNCTION IF EXISTS nominal.marcar_distrito_pendiente(text)")
    op.execute("DROP TABLE IF EXISTS calculo.distrito_pendiente")
    op.execute("DROP SEQUENCE IF EXISTS calculo.distrito_pendiente_marca_seq")
