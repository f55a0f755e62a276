"""Alembic's environment: always run by `rag.migrate` on a connection it has opened and locked (there is no
alembic.ini); the target metadata is the store's models, so `revision --autogenerate` diffs against them."""

from __future__ import annotations

from alembic import context

from rag.store import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True,
                  render_as_batch=connection.dialect.name == "sqlite")  # SQLite alters tables by copying them
with context.begin_transaction():
    context.run_migrations()
