"""The store behaves the same on SQLite and PostgreSQL where they differ underneath: a value longer than its column
is one clear error (PostgreSQL would fail with a raw DataError, SQLite keep it), and processes creating the same
workspace at once all succeed (PostgreSQL has no single writer to queue them); an unreachable database is named
in one line."""

from __future__ import annotations

import threading

from typer.testing import CliRunner

from api.cli import app
from rag.settings import Settings
from rag.store import Store


def test_too_long_value_is_one_clear_error_on_every_database(backend, monkeypatch):
    data, _url = backend
    monkeypatch.setenv("CTRLMAP_ACTOR", "a" * 300)
    result = CliRunner().invoke(app, ["--data-dir", str(data), "keys", "create", "--role", "viewer"])
    assert result.exit_code == 2 and "audit_events.actor takes at most 256 characters (got 300)" in result.output
    assert "Traceback" not in result.output
    monkeypatch.delenv("CTRLMAP_ACTOR")
    listed = CliRunner().invoke(app, ["--data-dir", str(data), "keys", "list", "--json"])
    assert listed.exit_code == 0 and '"viewer"' not in listed.stdout  # nothing half-written


def test_workspace_created_by_many_at_once(backend):
    data, url = backend
    settings = Settings.load("offline", data_dir=data, database_url=url)
    stores = [Store(settings) for _ in range(6)]
    start, failures = threading.Barrier(6), []

    def create(store: Store) -> None:
        start.wait()
        try:
            store.ensure_workspace("acme")
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(repr(exc))

    threads = [threading.Thread(target=create, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [] and stores[0].workspaces() == ["acme"]
    for store in stores:
        store.dispose()


def test_unreachable_database_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CTRLMAP_DATABASE_URL", "postgresql+psycopg://postgres:secret@127.0.0.1:1/ctrlmap")
    for verb in (["db", "current"], ["documents", "list"]):
        result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), *verb])
        assert result.exit_code == 2 and "cannot open the database postgresql+psycopg://postgres:***@127.0.0.1:1" \
            in " ".join(result.output.split()), result.output
        assert "secret" not in result.output and "Traceback" not in result.output
