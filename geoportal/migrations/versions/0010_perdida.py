"""Exact disclosure-control loss (calculo.sdc_perdida) for authorised aggregate roles, through
a SECURITY DEFINER function granted to the login/session role only."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.execute(sql_file("0010_perdida.sql"))


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS acceso.perdida_exacta(text)")
