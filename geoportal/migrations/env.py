"""Alembic environment: runs the project's migrations on the configured PostGIS."""

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
url = config.get_main_option("sqlalchemy.url")
connectable = create_engine(url, poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, transactional_ddl=True, version_table_schema="public")
    with context.begin_transaction():
        context.run_migrations()
