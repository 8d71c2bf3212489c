"""Alembic environment of the service's database: `records.migrate` hands over an open connection and the
model that rows stored before model names existed are attributed to (no URL, no logging configuration)."""

from alembic import context

context.configure(connection=context.config.attributes["connection"], target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
