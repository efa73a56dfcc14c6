"""Coverage engine storage: calculo schema, publico version/medida/sdc_perdida."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute(sql_file("0002_cobertura.sql"))


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS calculo CASCADE")
    op.execute("DROP TABLE IF EXISTS publico.cobertura, publico.sdc_perdida, publico.medida, publico.version")
