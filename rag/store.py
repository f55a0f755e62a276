"""The SQL store: the source of truth (SQLite by default, any SQLAlchemy URL such as PostgreSQL works).

Tables hold workspaces, documents, their versions with canonical text, sections and passages, proposals with
their citations, the pipeline's evidence per clause, decisions, clauses marked not applicable, the audit chain,
runs and API keys. Rows are converted to the domain model by the persistence modules (this one, `corpus`,
`drift`, `review`, `audit`, `auth`, `applicability`); computing stages and faces never see ORM objects. The
schema is created and upgraded by the Alembic revisions in `rag/migrations/` (run by `rag.migrate` when the
store opens), never by `create_all`: a change to the models here needs a new revision (see
rag/migrations/README.md).
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Iterator

import orjson
from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
                        create_engine, event, select)
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from rag import migrate
from rag.errors import InvalidInput
from rag.instructions import citation_flags
from rag.models import Citation, Coverage, Method, Proposal, Status, utcnow
from rag.rawsql import Tx
from rag.settings import Settings


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON, list: JSON}


def _ts() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), default=utcnow)


class WorkspaceRow(Base):
    __tablename__ = "workspaces"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = _ts()


class DocumentRow(Base):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("workspace", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.name"), index=True)
    name: Mapped[str] = mapped_column(String(512))
    title: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = _ts()
    versions: Mapped[list["VersionRow"]] = relationship(back_populates="document", order_by="VersionRow.number")


class VersionRow(Base):
    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    text_sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(128))
    byte_size: Mapped[int] = mapped_column(Integer)
    parser: Mapped[str] = mapped_column(String(64))
    pages: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text: Mapped[str] = mapped_column(Text, deferred=True)  # read only when asked for: it can be megabytes
    hidden: Mapped[list] = mapped_column(JSON, default=list)
    warnings: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = _ts()
    document: Mapped[DocumentRow] = relationship(back_populates="versions")


class SectionRow(Base):
    __tablename__ = "sections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"), index=True)
    heading_path: Mapped[list] = mapped_column(JSON)
    level: Mapped[int] = mapped_column(Integer)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text_sha256: Mapped[str] = mapped_column(String(64))


class PassageRow(Base):
    __tablename__ = "passages"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    workspace: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    heading_path: Mapped[list] = mapped_column(JSON)
    page: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    flags: Mapped[list] = mapped_column(JSON, default=list)  # rag.instructions flags, set at ingestion
    current: Mapped[bool] = mapped_column(Boolean, default=True, index=True)


class ProposalRow(Base):
    __tablename__ = "proposals"
    __table_args__ = (Index("ix_proposal_key", "workspace", "framework", "clause_id", "document_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64), index=True)
    framework: Mapped[str] = mapped_column(String(64))
    clause_id: Mapped[str] = mapped_column(String(64))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"))
    score: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    coverage: Mapped[str] = mapped_column(String(16))
    rationale: Mapped[str] = mapped_column(Text, default="")
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    prompt_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    usage: Mapped[dict] = mapped_column(JSON, default=dict)
    corpus_version: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    origin_proposal_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    drift: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()
    citations: Mapped[list["CitationRow"]] = relationship(cascade="all, delete-orphan", order_by="CitationRow.id")
    document: Mapped[DocumentRow] = relationship()
    version: Mapped[VersionRow] = relationship()


class EvidenceRow(Base):
    """The pipeline's own confidence for a clause's best documents in the latest run (proposed or not): what a
    crosswalk suggestion is weighed against."""

    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("workspace", "framework", "clause_id", "document_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64))
    framework: Mapped[str] = mapped_column(String(64))
    clause_id: Mapped[str] = mapped_column(String(64))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    rank: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)
    run_id: Mapped[str] = mapped_column(String(40))


class NotApplicableRow(Base):
    """A person's decision that a clause does not apply to the organization, with the reason (rag/applicability.py)."""

    __tablename__ = "not_applicable"
    __table_args__ = (UniqueConstraint("workspace", "framework", "clause_id", name="uq_not_applicable_clause"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64), index=True)
    framework: Mapped[str] = mapped_column(String(64))
    clause_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(256))
    at: Mapped[datetime] = _ts()


class CitationRow(Base):
    __tablename__ = "citations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), index=True)
    passage_id: Mapped[str] = mapped_column(ForeignKey("passages.id"))
    document_sha256: Mapped[str] = mapped_column(String(64))
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    quote: Mapped[str] = mapped_column(Text)
    flags: Mapped[list] = mapped_column(JSON, default=list)  # the passage's flags, and whether a reviewer confirmed


class DecisionRow(Base):
    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64), index=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), index=True)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict] = mapped_column(JSON, default=dict)
    after: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = _ts()


class AuditRow(Base):
    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    outcome: Mapped[str] = mapped_column(String(32))
    before: Mapped[dict] = mapped_column(JSON, default=dict)
    after: Mapped[dict] = mapped_column(JSON, default=dict)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """One row: the last sequence number and hash, locked while appending so the chain never forks."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class AuditEpochRow(Base):
    """From which event on the chain uses which hash scheme (and key): events before the first epoch are the
    previous release's plain sha256 chain."""

    __tablename__ = "audit_epochs"
    from_seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    scheme: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(32))
    sealed: Mapped[bool] = mapped_column(Boolean, default=False)  # a signed checkpoint was seen: never recreate it


class RunRow(Base):
    """A background job (rag.jobs): its lease, progress and outcome."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_claim", "status", "started_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    stats: Mapped[dict] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = _ts()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)  # who holds the lease (rag.jobs)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)  # unix time the lease expires
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class LlmReplyRow(Base):
    """A validated language-model reply, keyed by a hash of what was asked (rag.llm_cache): shared by every
    process using the database."""

    __tablename__ = "llm_replies"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    prompt: Mapped[str] = mapped_column(String(64))
    reply: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = _ts()


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    workspace: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = _ts()
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class WebSessionRow(Base):
    """A signed-in browser: the cookie holds a random id, the store only its sha256."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _ts()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class DeniedRequestRow(Base):
    """Refused requests counted per client, outcome and minute: kept apart from the audit chain and pruned."""

    __tablename__ = "denied_requests"
    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    window: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str] = mapped_column(String(256), default="")
    last_target: Mapped[str] = mapped_column(String(256), default="")
    last_at: Mapped[datetime] = _ts()


class ProfileRow(Base):
    """Each stored version of a workspace's system profile (YAML text as written; rag.profile validates it)."""

    __tablename__ = "system_profiles"
    __table_args__ = (UniqueConstraint("workspace", "version", name="uq_system_profiles_workspace_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(ForeignKey("workspaces.name"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = _ts()


IDLE_CHECK_SECONDS = 5.0


def _ping_when_idle(engine) -> None:
    """Check a pooled connection before use only when it sat idle for a while (the database may have been
    restarted meanwhile): `pool_pre_ping` would add a round trip to every transaction, three or four per
    decision under load. A connection that fails the check is replaced, as with `pool_pre_ping`."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn, record, _proxy):
        idle_since = record.info.pop("idle_since", None)
        if idle_since is not None and time.monotonic() - idle_since > IDLE_CHECK_SECONDS:
            try:
                alive = engine.dialect.do_ping(dbapi_conn)
            except Exception as exc:  # noqa: BLE001 - any failure means the connection is gone
                raise DisconnectionError(str(exc)) from exc
            if not alive:
                raise DisconnectionError("the pooled connection did not answer")


def _wal(cur, patience: float = 60.0) -> None:
    """Put the database in WAL mode. Leaving rollback-journal mode needs the file to itself, and SQLite answers
    "database is locked" at once, without waiting, when another connection is switching it at the same moment
    (several processes opening a previous release's database together): try again until `patience` runs out."""
    deadline = time.monotonic() + patience
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01 + random.random() * 0.05)


class Store:
    """Engines and sessions. On SQLite the database runs in WAL mode (readers never wait for writers) and
    write transactions start with BEGIN IMMEDIATE, so concurrent writers queue instead of failing. Writers of
    one process also queue on a lock before they begin: SQLite's busy handler polls with growing sleeps, which
    under many concurrent writers leaves the database idle while they sleep and makes waits unfair."""

    def __init__(self, settings: Settings, upgrade: bool = True) -> None:
        url = settings.db_url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.engine = self._sqlite_engine(url, "BEGIN")
            self.write_engine = self._sqlite_engine(url, "BEGIN IMMEDIATE")
        else:
            self.engine = self.write_engine = create_engine(url, pool_size=settings.db_pool_size,
                                                            max_overflow=max(4, settings.db_pool_size // 2),
                                                            json_deserializer=orjson.loads)
            _ping_when_idle(self.engine)
        if upgrade:  # the schema comes from the migrations (rag/migrations), never from create_all
            migrate.upgrade(self.engine, self.write_engine)
        # the audit chain reads its key through the session; `memo` (one dict, shared by every session of this
        # store) keeps what never changes while the store is open, such as the loaded audit key
        info = self.info = {"settings": settings, "memo": {}}
        self._read = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False, info=info)
        event.listen(self._write, "before_flush", _check_lengths)
        self._writer = threading.RLock() if self.is_sqlite else nullcontext()
        self._known_workspaces: set[str] = set()
        self.known_keys = None  # rag.known_keys.KnownKeys, once `remember_keys` started it
        self.on_dispose: list = []  # what closes with the store (listener threads)

    @staticmethod
    def _sqlite_engine(url: str, begin: str):
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN itself
            cur = dbapi_conn.cursor()
            _wal(cur)
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql(begin)

        return engine

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with self._writer if write else nullcontext(), (self._write if write else self._read)() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def raw(self, write: bool = False) -> Iterator[Tx]:
        """One transaction for hand-written SQL (`rag.rawsql.Tx`) on a pooled connection of the driver's own:
        committed on success, rolled back on any error. Writes on SQLite begin IMMEDIATE, as sessions do."""
        with self._writer if write else nullcontext():
            pooled = (self.write_engine if write else self.engine).raw_connection()
            try:
                if self.is_sqlite:
                    pooled.dbapi_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                tx = Tx(pooled.dbapi_connection, not self.is_sqlite, self.info)
                yield tx
                tx.close()
                pooled.commit()
            except BaseException:
                pooled.rollback()
                raise
            finally:
                pooled.close()

    def read(self, sql: str, params: dict | None = None) -> list[dict]:
        """One hand-written read standing alone (`rag.rawsql`, `reads`): on PostgreSQL in autocommit, without
        the BEGIN and COMMIT round trips around it (for the reads every request makes, such as finding the
        caller's key)."""
        with self.reads() as tx:
            return tx.rows(sql, params)

    @contextmanager
    def reads(self) -> Iterator[Tx]:
        """Hand-written reads that change nothing. On PostgreSQL they run in autocommit, each seeing what was
        committed when it started, which is what they would see inside a READ COMMITTED transaction, without
        its BEGIN and COMMIT round trips; on SQLite in one read transaction (one snapshot)."""
        if self.is_sqlite:
            with self.raw() as tx:
                yield tx
            return
        pooled = self.engine.raw_connection()
        conn = pooled.dbapi_connection
        try:
            conn.autocommit = True
            tx = Tx(conn, True, self.info)
            try:
                yield tx
            finally:
                tx.close()
                conn.autocommit = False
        finally:
            pooled.close()

    def ensure_workspace(self, name: str) -> None:
        try:
            with self.session(write=True) as s:
                if s.get(WorkspaceRow, name) is None:
                    s.add(WorkspaceRow(name=name))
        except IntegrityError:  # another process created it meanwhile (PostgreSQL has no single writer)
            with self.session() as s:
                if s.get(WorkspaceRow, name) is None:
                    raise

    def has_workspace(self, name: str) -> bool:
        """Workspaces are never removed, so a name once found is remembered (every request asks)."""
        if name in self._known_workspaces:
            return True
        with self.session() as s:
            found = s.get(WorkspaceRow, name) is not None
        if found:
            self._known_workspaces.add(name)
        return found

    def workspaces(self) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(WorkspaceRow.name).order_by(WorkspaceRow.name)))

    def remember_keys(self) -> None:
        """Remember keys found valid, forgetting them when any process revokes one (rag.known_keys); on
        PostgreSQL, for the API processes. On SQLite a key lookup is in-process and stays per request."""
        from rag.known_keys import KnownKeys

        if self.conninfo is not None and self.known_keys is None:
            self.known_keys = KnownKeys(self.conninfo)
            self.on_dispose.append(self.known_keys.close)

    @property
    def conninfo(self) -> str | None:
        """The PostgreSQL server's address for a connection of one's own (a listener), None on SQLite."""
        return None if self.is_sqlite else self.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)

    def dispose(self) -> None:
        for close in self.on_dispose:
            close()
        self.engine.dispose()
        self.write_engine.dispose()


def _check_lengths(session: Session, _context, _instances) -> None:
    """A string longer than its column is one clear error on every database (PostgreSQL refuses it with a raw
    DataError, SQLite would keep it)."""
    for row in (*session.new, *session.dirty):
        check_lengths(row.__table__, lambda key, row=row: getattr(row, key, None))


def check_lengths(table, value_of) -> None:
    """`_check_lengths` for the values of one row (`value_of(column key)`), also for Core inserts."""
    for column in table.columns:
        limit = getattr(column.type, "length", None)
        value = value_of(column.key)
        if limit and isinstance(value, str) and len(value) > limit:
            raise InvalidInput(f"{table.name}.{column.name} takes at most {limit} characters (got {len(value)})")


# --- row -> domain --------------------------------------------------------------------------------------


def proposal_from_row(row: ProposalRow, passages: dict[str, PassageRow] | None = None) -> Proposal:
    citations = []
    for c in row.citations:
        p = passages.get(c.passage_id) if passages else None
        citations.append(_citation(c, row.document.name, p.heading_path if p else None, p.page if p else None,
                                   p.flags if p else None))
    return _proposal(row, row.document.name, row.version.sha256, citations)


def _citation(c, document_name: str, heading_path: list | None, page: int | None, passage_flags: list | None
              ) -> Citation:
    return Citation(passage_id=c.passage_id, document_sha256=c.document_sha256, start=c.start, end=c.end,
                    quote=c.quote, document_name=document_name, heading_path=heading_path or [], page=page,
                    flags=citation_flags(c.flags, passage_flags, c.quote))


def _proposal(row, document_name: str, document_sha256: str, citations: list[Citation]) -> Proposal:
    """The domain proposal from its columns (an ORM row or a Core row: both read by attribute)."""
    return Proposal(id=row.id, workspace=row.workspace, framework=row.framework, clause_id=row.clause_id,
                    document_id=row.document_id, document_name=document_name,
                    document_sha256=document_sha256, citations=citations, score=row.score,
                    confidence=row.confidence, coverage=Coverage(row.coverage), rationale=row.rationale,
                    method=Method(row.method), status=Status(row.status), prompt_version=row.prompt_version,
                    model=row.model, corpus_version=row.corpus_version, run_id=row.run_id,
                    origin_proposal_id=row.origin_proposal_id, drift=row.drift or {}, usage=row.usage or {},
                    created_at=row.created_at,
                    updated_at=row.updated_at)


def proposal_of(row, cited: list) -> Proposal:
    """The domain proposal of a proposal row read by `rag.review_sql` (anything with its columns as attributes,
    and its document's name and version's sha256) and its citation rows."""
    return _proposal(row, row.document_name, row.document_sha256, [
        _citation(c, row.document_name, c.heading_path, c.page, c.passage_flags if c.passage_found else None)
        for c in cited])
