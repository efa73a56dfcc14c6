"""Map layers and vector tiles: public views, legend breaks, pre-simplified geometries."""

from alembic import op

from geoportal.migrate import sql_file

revision = "0005"
down_revision = "0008"


def upgrade() -> None:
    op.execute(sql_file("0005_capas.sql"))


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS publico.tesela_estado, publico.tesela_geom, publico.leyenda")
    op.execute("DROP VIEW IF EXISTS publico.punto_entrega, publico.territorio")
