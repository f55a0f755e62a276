"""Shared fixtures: a throw-away data directory and context per test, a hermetic environment (no LLM keys,
no network settings leak in), and access to ../shared for tests that need the real datasets.

With TEST_DATABASE_URL set (a PostgreSQL URL; `.ci/run` makes a second pass with it), every test's store lives in
a fresh PostgreSQL schema of its own (search_path set per connection) instead of SQLite, dropped afterwards; the
`pg_url` fixture gives PostgreSQL-only tests such a schema in either pass."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from rag.context import Context
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

_LEAKY_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY",
              "OPENAI_API_VERSION")


TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")  # not CTRLMAP_*: hermetic_env removes those
PG_URL = TEST_DATABASE_URL or "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class PgSchemas:
    """Throw-away PostgreSQL schemas: one per test, reached through a URL whose connections use only it."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT", pool_size=1)
        self.used = 0  # schemas a store was opened in (they hold alembic_version)

    def create(self) -> tuple[str, str]:
        name = f"t_{uuid.uuid4().hex[:16]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        url = self.url.update_query_dict({"options": f"-csearch_path={name}", "application_name": name})
        return name, url.render_as_string(hide_password=False)

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            self.used += bool(conn.scalar(text("SELECT to_regclass(:t)"), {"t": f"{name}.alembic_version"}))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n "
                              "AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))


def _pg_schemas(required: bool) -> PgSchemas | None:
    try:
        schemas = PgSchemas(PG_URL)
        with schemas.admin.connect():
            return schemas
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means "no PostgreSQL here"
        if required or os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {make_url(PG_URL).render_as_string()} is unreachable: {exc}")
        return None


@pytest.fixture(scope="session")
def pg_schemas(request) -> PgSchemas | None:
    schemas = _pg_schemas(required=bool(TEST_DATABASE_URL))
    request.config.stash[_PG_STASH] = schemas
    yield schemas
    if schemas is not None:
        schemas.admin.dispose()


_PG_STASH = pytest.StashKey[PgSchemas | None]()


@pytest.fixture
def pg_url(pg_schemas):
    """A fresh, empty PostgreSQL schema's URL; skipped without PostgreSQL locally, a failure when CI is set."""
    if pg_schemas is None:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name, url = pg_schemas.create()
    yield url
    pg_schemas.drop(name)


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch, request):
    for name in list(os.environ):
        if name.startswith("CTRLMAP_") or name in _LEAKY_ENV:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    if not TEST_DATABASE_URL:
        yield
        return
    schemas = request.getfixturevalue("pg_schemas")
    name, url = schemas.create()
    monkeypatch.setenv("CTRLMAP_DATABASE_URL", url)
    yield
    schemas.drop(name)


def pytest_terminal_summary(terminalreporter, config):
    schemas = config.stash.get(_PG_STASH, None)
    if TEST_DATABASE_URL and schemas is not None:
        terminalreporter.write_line(f"PostgreSQL pass: {schemas.used} tests opened a store on PostgreSQL")


@pytest.fixture
def shared_dir() -> Path:
    """../shared; skipped when absent, but a failure when CI is set (CI always has it)."""
    if not (SHARED / "evals" / "datasets").is_dir():
        if os.environ.get("CI"):
            pytest.fail("../shared is missing but CI is set: the evaluation data must be beside the checkout")
        pytest.skip("../shared is not beside this checkout")
    return SHARED


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.load("offline", data_dir=tmp_path / "data")


@pytest.fixture
def ctx(settings):
    context = Context(settings)
    yield context
    context.close()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, request):
    """The full offline demo, run once per session (other tests read its outputs)."""
    from rag.demo import run_demo

    base = tmp_path_factory.mktemp("demo")
    schemas = request.getfixturevalue("pg_schemas") if TEST_DATABASE_URL else None
    name, url = schemas.create() if schemas else (None, None)
    context = Context(Settings.load("offline", data_dir=base / "data", database_url=url))
    result = run_demo(context, base / "out")
    yield context, result
    context.close()
    if schemas:
        schemas.drop(name)
