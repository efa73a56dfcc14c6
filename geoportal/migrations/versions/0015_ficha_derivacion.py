"""The referral's card for the institution: the household's address reference and, for a
child, the guardian, through one audited SECURITY DEFINER function (own referrals only)."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    op.execute(sql_file("0015_ficha_derivacion.sql"))


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS nominal.ficha_derivaciones(bigint[])")
    op.execute("ALTER TABLE nominal.hogar DROP COLUMN IF EXISTS referencia")
