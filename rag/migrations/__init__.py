"""Alembic revisions of the SQL store's schema (see README.md here); `rag.migrate` runs them."""
