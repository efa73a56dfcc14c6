"""Base schema: territorio, oferta, nominal, publico and the public role."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.execute(sql_file("0001_base.sql"))


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS publico, nominal, oferta, territorio CASCADE")
