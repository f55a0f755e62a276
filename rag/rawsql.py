"""Hand-written SQL on the database driver's own connection, for the few statements every request makes.

SQLAlchemy costs 0.3 to 0.5 ms of CPU per statement here (building the execution context, processing result
types); a decision makes a dozen statements, and the service makes hundreds of decisions a second. `Tx` runs
plain SQL on the DBAPI connection of a transaction (a pooled one from `Store.raw`, or an ORM session's, so
both kinds of work can share one transaction) and does what SQLAlchemy's types would: parameters written as
`:name` (turned into the driver's style once per statement), JSON in and out, and timestamps stored the way
SQLAlchemy stores them on SQLite (PostgreSQL's driver handles `timestamptz` itself).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from functools import lru_cache

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


_NAMES: dict[str, tuple[str, ...]] = {}  # column names by statement
_MAX_PARAMETERS = 30000  # per statement (SQLite allows 32,766, PostgreSQL 65,535)


@lru_cache(maxsize=512)
def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` -> `$1`, `$2`, ... (PostgreSQL's own placeholders, which psycopg's `RawCursor` sends as they
    are: psycopg parses a `%(name)s` query on every execution of one too long for its own cache, as a
    multi-row INSERT is), and the names in their numbers' order."""
    numbers: dict[str, int] = {}
    text = _NAMED.sub(lambda m: f"${numbers.setdefault(m.group(1), len(numbers) + 1)}", sql)
    return text, tuple(numbers)


def inserts(table: str, rows: list[dict]) -> list[tuple[str, dict]]:
    """Multi-row INSERT statements of these rows (same keys), each under the limit on parameters."""
    if not rows:
        return []
    columns = list(rows[0])
    per = max(1, _MAX_PARAMETERS // len(columns))  # SQLite and PostgreSQL bound a statement's parameters
    names = ", ".join(f'"{c}"' for c in columns)
    out = []
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        values = ", ".join("(" + ", ".join(f":{c}_{i}" for c in columns) + ")" for i in range(len(chunk)))
        out.append((f"INSERT INTO {table} ({names}) VALUES {values}",
                    {f"{c}_{i}": row[c] for i, row in enumerate(chunk) for c in columns}))
    return out


def _together(statements: list[tuple[str, dict]]) -> tuple[str, dict]:
    """One statement of several: all but the last as data-modifying `WITH` parts, their parameters renamed
    apart."""
    merged = {f"s{i}_{k}": v for i, (_, params) in enumerate(statements) for k, v in params.items()}
    return _joined(tuple(sql for sql, _ in statements)), merged


@lru_cache(maxsize=512)
def _joined(statements: tuple[str, ...]) -> str:
    parts = [_NAMED.sub(lambda m, i=i: f":s{i}_{m.group(1)}", sql) for i, sql in enumerate(statements)]
    return "WITH " + ", ".join(f"w{i} AS ({p})" for i, p in enumerate(parts[:-1])) + f" {parts[-1]}"


class Tx:
    """Statements in the caller's transaction on one DBAPI connection. `pg`: PostgreSQL (psycopg), else
    SQLite (sqlite3). The caller commits or rolls back."""

    def __init__(self, dbapi_connection, pg: bool, shared: dict) -> None:
        self.conn, self.pg = dbapi_connection, pg
        self.shared = shared  # the store's: its settings and `memo` (what never changes while it is open)
        self.local: dict = {}  # what this transaction remembers (the locked audit head)
        self._cur = None  # one cursor for all its statements (closed with the connection's transaction)

    @classmethod
    def of_session(cls, s) -> "Tx":
        """The transaction of an ORM session (begun if it was not): pending ORM changes are flushed first, so
        hand-written reads see them. One `Tx` per transaction, kept in the session's info."""
        s.flush()
        connection = s.connection()
        held = s.info.get("raw_tx")
        if held is not None and held[0] is s.get_transaction():
            return held[1]
        tx = cls(connection.connection.dbapi_connection, connection.dialect.name == "postgresql", s.info)
        s.info["raw_tx"] = (s.get_transaction(), tx)
        return tx

    def _execute(self, sql: str, params: dict | None):
        if self._cur is None:
            if self.pg:
                from psycopg import RawCursor

                self._cur = RawCursor(self.conn)
            else:
                self._cur = self.conn.cursor()
        if self.pg:
            text, names = _numbered(sql)
            self._cur.execute(text, [params[n] for n in names])
        else:
            self._cur.execute(sql, params or {})
        return self._cur

    def rows(self, sql: str, params: dict | None = None) -> list[dict]:
        """The result rows as dicts keyed by column name (or label)."""
        cur = self._execute(sql, params)
        names = _NAMES.get(sql)
        if names is None:  # the same statement always has the same columns; reading them costs per column
            if len(_NAMES) > 4096:  # statements with long IN lists vary; keep the memo bounded
                _NAMES.clear()
            names = _NAMES[sql] = tuple(d[0] for d in cur.description)
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def close(self) -> None:
        if self._cur is not None:
            self._cur.close()
            self._cur = None

    def first(self, sql: str, params: dict | None = None) -> dict | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def run(self, sql: str, params: dict | None = None) -> int:
        """A statement without result rows; how many rows it changed."""
        return self._execute(sql, params).rowcount

    def insert(self, table: str, rows: list[dict], returning: tuple[str, ...] = ()) -> list[dict]:
        """Rows (same keys) in one multi-row INSERT, one round trip whatever their number (psycopg would send
        `executemany` as a pipelined batch, which costs more than one statement); with `returning`, those
        columns of the new rows. Their order is not promised: match them by a unique column."""
        out = []
        for sql, params in inserts(table, rows):
            if returning:
                out += self.rows(f"{sql} RETURNING {', '.join(returning)}", params)
            else:
                self.run(sql, params)
        return out

    def run_together(self, statements: list[tuple[str, dict]]) -> None:
        """Writes that are independent (none reads what another one changes) in one round trip on PostgreSQL,
        as the data-modifying parts of one statement (`WITH w0 AS (...), ... last`); one after the other on
        SQLite, which has no such statements."""
        if not self.pg or len(statements) == 1 or sum(len(p) for _, p in statements) > _MAX_PARAMETERS:
            for sql, params in statements:
                self.run(sql, params)
            return
        self.run(*_together(statements))

    def rows_together(self, writes: list[tuple[str, dict]], sql: str, params: dict) -> list[dict]:
        """`run_together(writes)`, then the rows of the query `sql`, in the same round trip on PostgreSQL. The
        query must not depend on the writes: on PostgreSQL it sees the database as it was before them (on
        SQLite, after them)."""
        if not self.pg or sum(len(p) for _, p in writes) + len(params) > _MAX_PARAMETERS:
            self.run_together(writes)
            return self.rows(sql, params)
        return self.rows(*_together([*writes, (sql, params)]))

    # --- values, as SQLAlchemy's column types would convert them -----------------------------------

    def json_in(self, value) -> str:
        return json.dumps(value)

    def json_out(self, value):
        """A JSON column's value: psycopg already parsed it; sqlite3 hands back its text."""
        if value is None or not isinstance(value, str):
            return value
        return json.loads(value)

    def ts_in(self, at: datetime):
        """A `DateTime(timezone=True)` value: aware for PostgreSQL; SQLAlchemy's text form (UTC) on SQLite."""
        if self.pg:
            return at
        return at.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

    def ts_out(self, value) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        return datetime.fromisoformat(value)

    def lock(self) -> str:
        """` FOR UPDATE` where rows can be locked (SQLite write transactions are already exclusive)."""
        return " FOR UPDATE" if self.pg else ""
