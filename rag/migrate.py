"""Schema history of the SQL store: the database is created and upgraded by the Alembic revisions in
`rag/migrations/`, never by `create_all`.

`upgrade` brings a database to the newest revision under a database-level lock (a transaction-scoped advisory
lock on PostgreSQL, BEGIN IMMEDIATE on SQLite), so processes starting at once queue and the later ones find the
work done. A database made by the release before migrations (its tables exist, no `alembic_version`) is
recognized, stamped at the baseline revision, then upgraded like any other.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import OperationalError

from rag.errors import ConfigError

SCRIPTS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
LEGACY_TABLES = frozenset({
    "workspaces", "documents", "document_versions", "sections", "passages", "proposals", "evidence",
    "citations", "decisions", "audit_events", "audit_head", "runs", "api_keys"})
_PG_LOCK_KEY = 0x63_74_72_6C_6D_61_70  # "ctrlmap": one key for every schema upgrade of a database


@dataclass
class SchemaStatus:
    current: str | None  # None: empty database, or one made before migrations
    head: str
    legacy: bool  # the previous release's tables without a recorded revision

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration built in code, pointing at the revisions inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def history() -> list[tuple[str, str]]:
    """(revision, message) oldest first."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return [(s.revision, s.doc) for s in reversed(list(scripts.walk_revisions()))]


def status(engine: Engine) -> SchemaStatus:
    with _reachable(engine), engine.connect() as conn:
        return _status(conn)


def upgrade(read_engine: Engine, write_engine: Engine) -> list[str]:
    """Bring the database to the newest revision; returns the revisions applied (none when up to date)."""
    if status(read_engine).up_to_date:
        return []
    with _reachable(write_engine), _locked(write_engine) as conn:
        state = _status(conn)  # again under the lock: another process may have done it meanwhile
        if state.up_to_date:
            return []
        cfg = alembic_config(conn)
        if state.legacy:
            _check_legacy(conn)
            command.stamp(cfg, BASELINE)
        _known(state.current)
        command.upgrade(cfg, "head")
        return _since(BASELINE if state.legacy else state.current)


@contextmanager
def _reachable(engine: Engine) -> Iterator[None]:
    """A database that cannot be opened is one clear error naming it (password hidden), not a traceback."""
    try:
        yield
    except OperationalError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise ConfigError(f"cannot open the database {where}: {str(exc.orig).strip()}") from None


def _status(conn: Connection) -> SchemaStatus:
    current = MigrationContext.configure(conn).get_current_revision()
    if current is not None:
        return SchemaStatus(current, head(), legacy=False)
    tables = set(inspect(conn).get_table_names())
    return SchemaStatus(None, head(), legacy="alembic_version" not in tables and bool(tables & LEGACY_TABLES))


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the database's schema lock. SQLite's write engine begins with BEGIN IMMEDIATE,
    which takes the database's write lock; PostgreSQL takes an advisory lock released with the transaction."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        yield conn


def _check_legacy(conn: Connection) -> None:
    missing = LEGACY_TABLES - set(inspect(conn).get_table_names())
    if missing:
        raise ConfigError(f"the database has some of ctrlmap's tables but not {', '.join(sorted(missing))}; it was "
                          "not made by ctrlmap, or is damaged: refusing to upgrade it")


def _known(revision: str | None) -> None:
    if revision is None:
        return
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        raise ConfigError(f"the database's schema is at revision {revision!r}, which this ctrlmap does not know "
                          f"(its newest is {head()!r}): it was upgraded by a newer release") from None


def _since(revision: str | None) -> list[str]:
    revisions = [rev for rev, _ in history()]
    return revisions[revisions.index(revision) + 1:] if revision else revisions
