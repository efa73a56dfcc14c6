"""Disclosure control: coarse public loss, exact internal loss, internal update log."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0004"
down_revision = "0005"


def upgrade() -> None:
    op.execute(sql_file("0004_divulgacion.sql"))


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS calculo.actualizacion, calculo.sdc_perdida, calculo.cobertura_viva")
    op.execute("DROP TABLE IF EXISTS publico.sdc_perdida")
    op.execute(
        "CREATE TABLE publico.sdc_perdida (data_version text NOT NULL, nivel text NOT NULL, zona text NOT NULL,"
        " areas integer NOT NULL, areas_reservadas_pct double precision NOT NULL,"
        " hogares_en_reservadas_pct double precision NOT NULL, cifras_cambiadas_pct double precision NOT NULL,"
        " cambio_absoluto_medio double precision NOT NULL, PRIMARY KEY (data_version, nivel, zona))"
    )
    op.execute("GRANT SELECT ON publico.sdc_perdida TO geoportal_publico")
