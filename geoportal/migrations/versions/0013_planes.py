"""Plans of improvement and investment (planes schema, Row-Level Security) and the
history of every public release's protected shares (publico.cifra_historia)."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.execute(sql_file("0013_planes.sql"))


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS publico.cifra_historia")
    op.execute("DROP SCHEMA IF EXISTS planes CASCADE")
