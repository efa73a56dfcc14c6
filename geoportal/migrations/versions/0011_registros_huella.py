"""Administrative records as ingest batches (lote_ingesta tipo 'registros') and the data
fingerprint of the computation (calculo.huella) behind data_version."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.execute(sql_file("0011_registros_huella.sql"))


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS calculo.huella")
    # Batches of a kind the older schema does not know go (their quarantine with them):
    # a downgrade is only ever on the way to a reset, and the constraint must hold.
    op.execute(
        "DELETE FROM nominal.lote_ingesta WHERE tipo NOT IN ('hogares', 'personas', 'puntos', 'contrarreferencias')"
    )
    op.execute("ALTER TABLE nominal.lote_ingesta DROP CONSTRAINT IF EXISTS lote_ingesta_tipo_check")
    op.execute(
        "ALTER TABLE nominal.lote_ingesta ADD CONSTRAINT lote_ingesta_tipo_check"
        " CHECK (tipo IN ('hogares', 'personas', 'puntos', 'contrarreferencias'))"
    )
