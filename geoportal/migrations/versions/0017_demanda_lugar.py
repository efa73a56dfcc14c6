"""The 2SFCA demand locations of the last national computation (calculo.demanda_lugar), for
the what-if's new points."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0017"
down_revision = "0016"


def upgrade() -> None:
    op.execute(sql_file("0017_demanda_lugar.sql"))


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS calculo.demanda_lugar")
