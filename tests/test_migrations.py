"""Schema migrations: a fresh database is made by the revisions and matches the models; revision 0001 is exactly
the schema of the release before migrations; a database that release made, with real work in it, is recognized,
upgraded and loses nothing; processes starting at once upgrade it once; `ctrlmap db` reports and upgrades.
Each test runs on SQLite and on PostgreSQL (skipped locally without it)."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, func, select, text
from typer.testing import CliRunner

from api.cli import app
from rag import migrate
from rag.settings import Settings
from rag.store import Base, Store
from tests.fixtures import legacy_ddf7e75

FIXTURES = Path(__file__).parent / "fixtures"
LEGACY_DUMP = FIXTURES / "legacy-ddf7e75.sql.gz"


def cli(data: Path, *args: str):
    return CliRunner().invoke(app, ["--data-dir", str(data), *args])


def diffs(url: str, metadata: MetaData) -> list:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    engine.dispose()
    return found


def test_fresh_database_is_made_by_migrations_and_matches_the_models(backend):
    """The models and the migrated schema agree: a change to the models without a revision fails here."""
    data, url = backend
    store = Store(Settings.load("offline", data_dir=data, database_url=url))
    assert migrate.status(store.engine).current == migrate.head()
    store.dispose()
    assert diffs(url, Base.metadata) == []


def test_baseline_revision_is_the_previous_release_schema(backend):
    data, url = backend
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), migrate.BASELINE)
    engine.dispose()
    assert diffs(url, legacy_ddf7e75.Base.metadata) == []


def test_revisions_form_one_numbered_line():
    """Two branches that each added a revision on the same parent must be put in a line before merging."""
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(scripts.get_heads()) == 1
    revisions = [rev for rev, _ in migrate.history()]
    assert revisions == [f"{n:04d}" for n in range(1, len(revisions) + 1)]
    for script in scripts.walk_revisions():
        assert Path(script.path).name.startswith(f"{script.revision}_")


# --- a database made by the previous release ----------------------------------------------------------------


def legacy_sqlite() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.executescript(gzip.open(LEGACY_DUMP, "rt", encoding="utf-8").read())
    return conn


def make_legacy_database(data: Path, url: str) -> None:
    """The previous release's database: on SQLite its own dump; on PostgreSQL its tables (frozen copy) made by
    create_all as that release did, filled with the dump's rows, sequences where its inserts left them."""
    shutil.copy(FIXTURES / "legacy-ddf7e75.audit-head.json", data / "audit-head.json")
    if url.startswith("sqlite"):
        target = sqlite3.connect(data / "ctrlmap.db")
        legacy_sqlite().backup(target)
        target.close()
        return
    source = create_engine("sqlite://", creator=legacy_sqlite)
    engine = create_engine(url)
    tables = legacy_ddf7e75.Base.metadata.sorted_tables
    legacy_ddf7e75.Base.metadata.create_all(engine)
    with source.connect() as src, engine.begin() as dst:
        for table in tables:
            rows = [dict(r._mapping) for r in src.execute(select(table))]
            if rows:
                dst.execute(table.insert(), rows)
            for col in table.primary_key.columns:
                if col.autoincrement is True or (col.autoincrement == "auto" and col.type.python_type is int
                                                 and len(table.primary_key.columns) == 1):
                    dst.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', '{col.name}'), "
                                     f"(SELECT coalesce(max({col.name}), 0) + 1 FROM {table.name}), false)"))
    source.dispose()
    engine.dispose()


def snapshot(url: str) -> dict[str, list[dict]]:
    """Every row of every table of the previous release, in primary-key order."""
    engine = create_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in legacy_ddf7e75.Base.metadata.sorted_tables:
            out[table.name] = [dict(r._mapping) for r in conn.execute(select(table).order_by(*table.primary_key))]
    engine.dispose()
    return out


def test_previous_release_database_upgrades_keeping_every_row(backend):
    data, url = backend
    make_legacy_database(data, url)
    before = snapshot(url)
    counts = {name: len(rows) for name, rows in before.items()}
    assert counts["documents"] == 5 and counts["document_versions"] == 6 and counts["decisions"] == 7
    assert counts["audit_events"] == 22 and counts["evidence"] > 100 and counts["passages"] > 50

    shown = cli(data, "db", "current", "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["legacy"] is True
    upgraded = cli(data, "db", "upgrade", "--json")
    assert upgraded.exit_code == 0, upgraded.output
    report = json.loads(upgraded.stdout)
    assert report["legacy"] is True and report["applied"] == [rev for rev, _ in migrate.history()][1:]

    after = snapshot(url)
    assert {name: len(rows) for name, rows in after.items()} == counts
    assert after == before  # every row, every value
    assert diffs(url, Base.metadata) == []
    assert sorted(r["status"] for r in after["proposals"]).count("approved") == 4
    assert {r["actor"] for r in after["decisions"]} == {"Ana Ortiz", "Ben Ng"}

    verified = cli(data, "audit", "verify")
    assert verified.exit_code == 0 and "22 events verified" in verified.stdout, verified.output
    # new work lands after the upgrade (fresh ids from the old sequences), and the chain still holds
    pending = json.loads(cli(data, "review", "list", "--json").stdout)
    assert len(pending) == sum(r["status"] == "proposed" for r in after["proposals"])
    decided = cli(data, "review", "approve", str(pending[0]["id"]), "--as", "Cleo Park")
    assert decided.exit_code == 0, decided.output
    verified = cli(data, "audit", "verify")
    assert verified.exit_code == 0 and "intact" in verified.stdout, verified.output
    events = json.loads(cli(data, "audit", "log", "--json").stdout)  # the approval (and its crosswalk suggestions)
    assert len(events) > 22 and any(e["action"] == "proposal.approve" and e["actor"] == "Cleo Park" for e in events)
    assert cli(data, "db", "current").stdout.count("(newest)") == 1


def test_processes_starting_at_once_upgrade_once(backend):
    """Six stores open the same previous-release database at the same moment: the schema lock queues them, one
    upgrades, the others find it done; nobody fails and the revision is recorded once."""
    data, url = backend
    make_legacy_database(data, url)
    settings = Settings.load("offline", data_dir=data, database_url=url)
    start, failures, stores = threading.Barrier(6), [], []

    def open_store():
        start.wait()
        try:
            stores.append(Store(settings))
        except Exception as exc:  # noqa: BLE001 - the assertion below reports it
            failures.append(repr(exc))

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [] and len(stores) == 6
    with stores[0].engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(text("alembic_version"))) == 1
        assert migrate.status(stores[0].engine).up_to_date
    for store in stores:
        store.dispose()


def test_database_from_a_newer_release_is_a_clear_error(backend):
    data, url = backend
    Store(Settings.load("offline", data_dir=data, database_url=url)).dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    result = cli(data, "documents", "list")
    assert result.exit_code == 2 and "revision '9999'" in result.output and "newer release" in result.output
    assert "Traceback" not in result.output
