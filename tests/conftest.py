"""Shared fixtures: a throw-away data directory and context per test, a hermetic environment (no LLM keys,
no network settings leak in), and access to ../shared for tests that need the real datasets.

With TEST_DATABASE_URL set (a PostgreSQL URL; `.ci/run` makes a second pass with it), a store opened on a data
directory without an explicit database URL lives in a PostgreSQL schema of that directory's own instead of the
SQLite file in it (so every context, CLI call and app on one directory shares it, as they share the file), dropped
with the test's temporary directory. The `pg_url` fixture gives PostgreSQL-only tests a fresh schema in either
pass (skipped locally without PostgreSQL, a failure when CI is set)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, make_url

from rag.context import Context
from rag.settings import Settings
from tests.pg import PgSchemas

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

_LEAKY_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY",
              "OPENAI_API_VERSION")


@pytest.fixture(scope="session", autouse=True)
def audit_key_home(tmp_path_factory):
    """The default audit key file (`$XDG_CONFIG_HOME/ctrlmap/audit.key`) goes to a temporary folder, never ~."""
    before = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    yield Path(os.environ["XDG_CONFIG_HOME"])
    if before is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = before


TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")  # not CTRLMAP_*: hermetic_env removes those
PG_URL = TEST_DATABASE_URL or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_PG = pytest.StashKey[PgSchemas | None]()
_PG_TESTS = pytest.StashKey[set]()


@pytest.fixture(scope="session")
def pg_schemas(request) -> PgSchemas | None:
    """The PostgreSQL server's schemas, or None when it is not running (a failure when it must be)."""
    schemas = PgSchemas(PG_URL)
    try:
        schemas.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means "no PostgreSQL here"
        if TEST_DATABASE_URL or os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {make_url(PG_URL).render_as_string()} is unreachable: {exc}")
        schemas = None
    request.config.stash[_PG] = schemas
    yield schemas
    if schemas is not None:
        schemas.drop_under(None)
        schemas.admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def postgres_pass(request):
    """In the PostgreSQL pass, a data directory's database is a PostgreSQL schema (see the module docstring)."""
    if not TEST_DATABASE_URL:
        yield
        return
    schemas, used = request.getfixturevalue("pg_schemas"), request.config.stash.setdefault(_PG_TESTS, set())
    sqlite_url = Settings.db_url.fget

    def db_url(self) -> str:
        if self.database_url or not self.data_dir.is_absolute():  # explicit URLs and the relative default stay
            return sqlite_url(self)
        return schemas.url_for(self.data_dir)

    def count(conn, *_args) -> None:  # which tests ran SQL on PostgreSQL (printed at the end)
        if conn.dialect.name == "postgresql":
            used.add(os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0])

    event.listen(Engine, "before_cursor_execute", count)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Settings, "db_url", property(db_url))
        yield
    event.remove(Engine, "before_cursor_execute", count)


@pytest.fixture
def pg_url(pg_schemas):
    """A fresh, empty PostgreSQL schema's URL (in either pass)."""
    if pg_schemas is None:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name, url = pg_schemas.create()
    yield url
    pg_schemas.drop(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path, monkeypatch):
    """(data_dir, database URL) on SQLite, then on a fresh PostgreSQL schema; the CLI uses the same database."""
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite:///{data / 'ctrlmap.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    monkeypatch.setenv("CTRLMAP_DATABASE_URL", url)
    return data, url


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch, request):
    for name in list(os.environ):
        if name.startswith("CTRLMAP_") or name in _LEAKY_ENV:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    tmp = request.getfixturevalue("tmp_path") if TEST_DATABASE_URL and "tmp_path" in request.fixturenames else None
    yield
    schemas = request.config.stash.get(_PG, None)
    if tmp is not None and schemas is not None:
        schemas.drop_under(tmp)  # the databases of this test's data directories


def pytest_terminal_summary(terminalreporter, config):
    if TEST_DATABASE_URL:
        used = config.stash.get(_PG_TESTS, set())
        terminalreporter.write_line(f"PostgreSQL pass: {len(used)} tests ran SQL on PostgreSQL")


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
def demo_run(tmp_path_factory):
    """The full offline demo, run once per session (other tests read its outputs)."""
    from rag.demo import run_demo

    base = tmp_path_factory.mktemp("demo")
    context = Context(Settings.load("offline", data_dir=base / "data"))
    result = run_demo(context, base / "out")
    yield context, result
    context.close()
