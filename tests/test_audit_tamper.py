"""Tampering with the audit trail directly in the database is caught: `ctrlmap audit verify` exits non-zero
and names the first bad event whether an event was altered, removed or reordered, the tail cut off, or the
whole chain rewritten consistently (the checkpoint file beside the database disagrees)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from api.cli import app
from rag import audit
from rag.audit import event_hash
from rag.context import Context
from rag.settings import Settings

EVENTS = 8
COLUMNS = ("workspace", "at", "actor", "action", "target", "outcome", "before", "after", "detail", "prev_hash", "hash")


@pytest.fixture
def chain(tmp_path):
    """A data directory whose database holds a chain of EVENTS decisions; returns (data_dir, database URL)."""
    data = tmp_path / "data"
    ctx = Context(Settings.load("offline", data_dir=data))
    for i in range(1, EVENTS + 1):
        audit.record(ctx.store, data / "audit-head.json", workspace="acme", actor=f"reviewer-{i}",
                     action="proposal.approve", target=f"proposal:{i}", before={"status": "proposed"},
                     after={"status": "approved"}, comment=f"looks right {i}", document_sha256="ab" * 32,
                     model="scorer:test", prompt_version="judge-v1")
    ctx.close()
    return data, ctx.settings.db_url


def verify(data) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--data-dir", str(data), "audit", "verify"])
    return result.exit_code, " ".join(result.output.split())


def sql(db, statement: str, *params) -> None:
    """Run one statement straight on the database (SQLite or PostgreSQL), as a tamperer would."""
    for i in range(len(params)):
        statement = statement.replace("?", f":p{i}", 1)
    engine = create_engine(db)
    with engine.begin() as conn:
        conn.execute(text(statement), {f"p{i}": json.dumps(v) if isinstance(v, (dict, list)) else v
                                       for i, v in enumerate(params)})
    engine.dispose()


def row(db, seq: int) -> dict:
    engine = create_engine(db)
    with engine.connect() as conn:
        found = dict(conn.execute(text("SELECT * FROM audit_events WHERE seq = :s"), {"s": seq}).mappings().one())
    engine.dispose()
    return {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in found.items()}  # JSON as text


def test_intact_chain_verifies(chain):
    code, out = verify(chain[0])
    assert code == 0 and f"{EVENTS} events verified" in out


@pytest.mark.parametrize("column, value", [("actor", "mallory"), ("outcome", "denied"), ("at", "2020-01-01T00:00:00"),
                                           ("after", json.dumps({"status": "rejected"})),
                                           ("detail", json.dumps({"comment": "nothing to see"}))])
def test_altered_event_is_named(chain, column, value):
    data, db = chain
    sql(db, f"UPDATE audit_events SET {column} = ? WHERE seq = 4", value)
    code, out = verify(data)
    assert code != 0 and "broken at event 4" in out and "altered" in out


def test_removed_event_is_named(chain):
    data, db = chain
    sql(db, "DELETE FROM audit_events WHERE seq = 3")
    code, out = verify(data)
    assert code != 0 and "broken at event 4" in out and "event 3 is missing" in out


def test_removed_and_renumbered_event_is_named(chain):
    data, db = chain
    sql(db, "DELETE FROM audit_events WHERE seq = 3")
    for seq in range(4, EVENTS + 1):
        sql(db, "UPDATE audit_events SET seq = ? WHERE seq = ?", seq - 1, seq)
    code, out = verify(data)
    assert code != 0 and "broken at event 3" in out and "removed or reordered" in out


def test_reordered_events_are_named(chain):
    data, db = chain
    a, b = row(db, 5), row(db, 6)
    for target, source in ((5, b), (6, a)):
        sets = ", ".join(f"{c} = ?" for c in COLUMNS)
        sql(db, f"UPDATE audit_events SET {sets} WHERE seq = ?", *[source[c] for c in COLUMNS], target)
    code, out = verify(data)
    assert code != 0 and "broken at event 5" in out and "removed or reordered" in out


def test_removed_tail_is_caught(chain):
    data, db = chain
    sql(db, "DELETE FROM audit_events WHERE seq = ?", EVENTS)
    code, out = verify(data)
    assert code != 0 and f"broken at event {EVENTS}" in out
    # hiding it from the head row too: the checkpoint file beside the database still knows
    last = row(db, EVENTS - 1)
    sql(db, "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", EVENTS - 1, last["hash"])
    code, out = verify(data)
    assert code != 0 and "checkpoint" in out


def test_rewritten_chain_is_caught(chain):
    """An attacker alters event 2 and recomputes every hash after it and the head row: only the checkpoint
    file outside the database disagrees, and verification says so."""
    data, db = chain
    sql(db, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    prev = row(db, 1)["hash"]
    for seq in range(2, EVENTS + 1):
        fields = row(db, seq)
        fields.update(prev_hash=prev, **{k: json.loads(fields[k]) for k in ("before", "after", "detail")})
        prev = event_hash(fields)
        sql(db, "UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?", fields["prev_hash"], prev, seq)
    sql(db, "UPDATE audit_head SET hash = ? WHERE id = 1", prev)
    code, out = verify(data)
    assert code != 0 and f"broken at event {EVENTS}" in out and "checkpoint file (the chain was rewritten)" in out
