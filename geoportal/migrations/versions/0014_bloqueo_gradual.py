"""Login attempts by kind (checked, refused while waiting, unlock): the lockout backs off
exponentially and never counts the attempts it refused."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.execute(sql_file("0014_bloqueo_gradual.sql"))


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS acceso.intento_ingreso_exito_idx")
    # the older schema counts every row that is not a success as a failure
    op.execute("DELETE FROM acceso.intento_ingreso WHERE tipo <> 'intento'")
    op.execute("ALTER TABLE acceso.intento_ingreso DROP COLUMN IF EXISTS tipo")
