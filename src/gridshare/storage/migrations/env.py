"""Alembic environment: migrations run on the connection gridshare hands over."""

from alembic import context

from gridshare.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through gridshare.storage.migrate(), not the alembic CLI")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
