"""Real locality points (territorio.lugar): reference points of the entornos."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0008"
down_revision = "0002"


def upgrade() -> None:
    op.execute(sql_file("0008_lugares.sql"))


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS territorio.lugar")
