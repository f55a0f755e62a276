"""Throw-away PostgreSQL schemas for the tests: a store reaches one through a URL whose connections see only it
(`search_path` and `application_name` set per connection), so a schema behaves like a fresh SQLite file."""

from __future__ import annotations

import hashlib
import threading
import uuid
from pathlib import Path

from sqlalchemy import create_engine, make_url, text


class PgSchemas:
    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT", pool_size=1)
        self.by_dir: dict[Path, str] = {}  # data directory -> its schema (the PostgreSQL pass)
        self._lock = threading.Lock()

    def ping(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text("SELECT 1"))

    def create(self, name: str | None = None) -> tuple[str, str]:
        """A new (or existing) schema and the URL of a database that sees only it."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{name}"'))
        url = self.url.update_query_dict({"options": f"-csearch_path={name}", "application_name": name})
        return name, url.render_as_string(hide_password=False)

    def url_for(self, data_dir: Path) -> str:
        """The schema standing for a data directory's database: one per directory, as SQLite's file is."""
        data_dir = data_dir.resolve()
        name = f"d_{hashlib.sha1(str(data_dir).encode()).hexdigest()[:20]}"
        with self._lock:
            self.by_dir[data_dir] = name
            return self.create(name)[1]

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n "
                              "AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))

    def drop_under(self, root: Path | None) -> None:
        """Drop the schemas of data directories under root (every one when root is None)."""
        with self._lock:
            doomed = {d: n for d, n in self.by_dir.items() if root is None or d.is_relative_to(root)}
            for d in doomed:
                del self.by_dir[d]
        for name in doomed.values():
            self.drop(name)
