"""Pooled PostgreSQL connections are checked only after sitting idle (not before every transaction, which cost
a round trip per transaction under load), and a connection the server dropped meanwhile is replaced without
the caller seeing an error."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from rag import store as store_module
from rag.settings import Settings
from rag.store import Store


def _backend_pid(store: Store) -> int:
    with store.session() as s:
        return s.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(url: str, pid: int) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    finally:
        admin.dispose()


def test_a_connection_dropped_while_idle_is_replaced(pg_url, tmp_path, monkeypatch):
    store = Store(Settings.load("offline", data_dir=tmp_path / "data", database_url=pg_url))
    try:
        first = _backend_pid(store)
        assert _backend_pid(store) == first  # busy: the same pooled connection, no check in between
        _terminate(pg_url, first)
        monkeypatch.setattr(store_module, "IDLE_CHECK_SECONDS", 0.0)  # it has now been idle "long enough"
        second = _backend_pid(store)
        assert second != first
        assert store.has_workspace("nowhere") is False  # and the store works on
    finally:
        store.dispose()
