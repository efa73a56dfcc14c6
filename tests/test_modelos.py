"""The GeoAlchemy2 models and the migrated database describe the same tables."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from geoportal.db import sqlalchemy_url
from geoportal.models import metadata

MODELLED = {(t.schema, t.name) for t in metadata.tables.values()}


def _relevant(diff) -> bool:
    """Column and table differences of modelled tables (indexes and defaults live in SQL)."""
    kind = diff[0] if isinstance(diff, tuple) else diff[0][0]
    if kind in ("add_table", "remove_table"):
        table = diff[1]
        return (table.schema, table.name) in MODELLED
    if kind in ("add_column", "remove_column"):
        return (diff[1], diff[2]) in MODELLED
    if kind in ("modify_type", "modify_nullable"):
        return (diff[1], diff[2]) in MODELLED
    return False


def test_models_match_the_migrated_schema(db_url):
    engine = create_engine(sqlalchemy_url(db_url))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "include_schemas": True, "compare_type": True,
            "include_name": lambda name, type_, parent: type_ != "schema" or name in {"territorio", "oferta", "nominal", "publico"},
        })
        diffs = [d for d in compare_metadata(context, metadata) if _relevant(d if isinstance(d, tuple) else d[0])]
    assert diffs == []
