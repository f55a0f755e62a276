"""Tampering with the audit trail directly in the database is caught: `ctrlmap audit verify` exits non-zero
and names the first bad event whether an event was altered, removed or reordered, the tail cut off, or the
whole chain rewritten (its hashes are keyed with a secret outside the data directory, and the checkpoint file
beside the database is signed with it). A damaged, empty, missing, unsigned or forged checkpoint is a finding,
never a traceback; a chain written by the previous release (unkeyed) still verifies."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from api.cli import app
from rag import audit
from rag.audit import event_hash
from rag.context import Context
from rag.errors import ConfigError
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
                     action="note.add", target=f"note:{i}", before={"status": "proposed"},
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


def _rewrite_unkeyed(db, start: int = 2) -> None:
    """What an attacker who can write the database but not read the key can do: recompute every hash from
    event `start` on with plain sha256, and the head row with it."""
    prev = row(db, start - 1)["hash"] if start > 1 else audit.GENESIS
    for seq in range(start, EVENTS + 1):
        fields = row(db, seq)
        fields.update(prev_hash=prev, **{k: json.loads(fields[k]) for k in ("before", "after", "detail")})
        prev = event_hash(fields)
        sql(db, "UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?", fields["prev_hash"], prev, seq)
    sql(db, "UPDATE audit_head SET hash = ? WHERE id = 1", prev)


def test_rewritten_chain_is_caught(chain):
    """An attacker alters event 2 and recomputes every hash after it and the head row: without the key, the
    recomputed hashes do not verify."""
    data, db = chain
    sql(db, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    _rewrite_unkeyed(db)
    (data / "audit-head.json").write_text(json.dumps({"seq": EVENTS, "hash": row(db, EVENTS)["hash"]}))
    code, out = verify(data)
    assert code != 0 and "broken at event 2" in out and "without the audit key" in out


def test_forged_event_appended_with_head_and_checkpoint_is_caught(chain):
    """An attacker who can write the data directory appends an approval, moves the head row and rewrites the
    checkpoint file to match: without the key the new event's hash does not verify."""
    data, db = chain
    fields = dict(seq=EVENTS + 1, workspace="acme", at="2026-12-03T09:00:00+00:00", actor="mallory",
                  action="note.add", target="note:forged", outcome="ok", before={}, after={}, detail={},
                  prev_hash=row(db, EVENTS)["hash"])
    forged = event_hash(fields)
    sql(db, "INSERT INTO audit_events (seq, workspace, at, actor, action, target, outcome, before, after, detail, "
            "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, '{}', '{}', '{}', ?, ?)",
        *[fields[k] for k in ("seq", "workspace", "at", "actor", "action", "target", "outcome", "prev_hash")], forged)
    sql(db, "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", EVENTS + 1, forged)
    (data / "audit-head.json").write_text(json.dumps({"seq": EVENTS + 1, "hash": forged}))
    code, out = verify(data)
    assert code == 6 and f"broken at event {EVENTS + 1}" in out


def test_downgraded_chain_is_caught_by_the_signed_checkpoint(chain):
    """The attacker also deletes the keying record, so the whole chain looks like an old unkeyed one: the
    signed checkpoint disagrees; replacing the checkpoint with an unsigned or forged one is a finding too."""
    data, db = chain
    sql(db, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    sql(db, "DELETE FROM audit_epochs")
    _rewrite_unkeyed(db, start=1)
    code, out = verify(data)
    assert code == 6 and "keying was altered" in out
    head = row(db, EVENTS)
    mark = data / "audit-head.json"
    mark.write_text(json.dumps({"seq": EVENTS, "hash": head["hash"], "keyed_from": None, "key_id": "x", "mac": "0" * 64}))
    code, out = verify(data)
    assert code == 6 and "signature does not match" in out
    sql(db, "INSERT INTO audit_epochs (from_seq, scheme, key_id, sealed) VALUES (9, 'hmac-sha256', 'x', ?)", True)
    mark.write_text(json.dumps({"seq": EVENTS, "hash": head["hash"]}))  # the previous release's format
    code, out = verify(data)
    assert code == 6 and "not signed" in out


@pytest.mark.parametrize("content", [None, "", "   \n", "{not json", '{"seq": "8"}', "[1, 2]", "\x00\xff"])
def test_damaged_or_missing_checkpoint_is_a_finding(chain, content):
    data, _ = chain
    mark = data / "audit-head.json"
    if content is None:
        mark.unlink()
    else:
        mark.write_text(content)
    code, out = verify(data)
    assert code == 6 and "Traceback" not in out and "checkpoint file audit-head.json" in out
    assert ("missing" if content is None else "empty" if not content.strip() else "damaged") in out


def use_key_file(monkeypatch, path, secret: str, mode: int) -> None:
    path.write_text(secret)
    path.chmod(mode)
    monkeypatch.setenv("CTRLMAP_AUDIT_KEY_FILE", str(path))


def test_another_key_cannot_verify_or_extend_the_chain(chain, tmp_path, monkeypatch):
    data, _ = chain
    use_key_file(monkeypatch, tmp_path / "other.key", "f" * 64, 0o600)
    code, out = verify(data)
    assert code == 6 and "broken at event 1" in out
    ctx = Context(Settings.load("offline", data_dir=data))
    with pytest.raises(ConfigError, match="keyed with key"):
        audit.record(ctx.store, data / "audit-head.json", workspace="acme", actor="x", action="note.add", target="n")
    ctx.close()


def test_key_file_must_be_private_and_outside_the_data_dir(chain, tmp_path, monkeypatch):
    data, _ = chain
    use_key_file(monkeypatch, tmp_path / "shared.key", "a" * 64, 0o644)
    code, out = verify(data)
    assert code == 6 and "readable by group or others" in out and "chmod 600" in out
    use_key_file(monkeypatch, data / "audit.key", "a" * 64, 0o600)
    result = CliRunner().invoke(app, ["--data-dir", str(data), "audit", "verify"])
    assert result.exit_code == 6 and "inside the data directory" in " ".join(result.output.split())


def test_default_key_is_generated_private_outside_the_data_dir(chain, audit_key_home):
    key = audit_key_home / "ctrlmap" / "audit.key"
    assert key.exists() and key.stat().st_mode & 0o777 == 0o600
    assert not key.resolve().is_relative_to(chain[0].resolve())
    mark = json.loads((chain[0] / "audit-head.json").read_text())
    assert mark["seq"] == EVENTS and mark["keyed_from"] == 1 and len(mark["mac"]) == 64


def test_chain_of_the_previous_release_still_verifies(tmp_path):
    """A database written by the previous release (plain sha256, unsigned checkpoint) verifies; new events are
    keyed from the next sequence number on, and tampering with the old part is still caught."""
    data = tmp_path / "data"
    ctx = Context(Settings.load("offline", data_dir=data))
    ctx.store.ensure_workspace("acme")
    ctx.close()
    db, prev = ctx.settings.db_url, audit.GENESIS
    for seq in (1, 2, 3):
        fields = dict(seq=seq, workspace="acme", at=f"2026-01-0{seq}T00:00:00+00:00", actor="old", action="note.add",
                      target=f"note:{seq}", outcome="ok", before={}, after={}, detail={}, prev_hash=prev)
        prev = event_hash(fields)
        sql(db, "INSERT INTO audit_events (seq, workspace, at, actor, action, target, outcome, before, after, detail, "
                "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, '{}', '{}', '{}', ?, ?)",
            seq, "acme", fields["at"], "old", "note.add", fields["target"], "ok", fields["prev_hash"], prev)
    sql(db, "UPDATE audit_head SET seq = 3, hash = ? WHERE id = 1", prev)
    data.mkdir(exist_ok=True)  # on PostgreSQL the store does not make it
    (data / "audit-head.json").write_text(json.dumps({"seq": 3, "hash": prev}))
    code, out = verify(data)
    assert code == 0 and "3 events verified (3 from before keying" in out
    ctx = Context(Settings.load("offline", data_dir=data))
    audit.record(ctx.store, data / "audit-head.json", workspace="acme", actor="new", action="note.add", target="n:4")
    ctx.close()
    code, out = verify(data)
    assert code == 0 and "4 events verified (3 from before keying" in out
    assert json.loads((data / "audit-head.json").read_text())["keyed_from"] == 4
    sql(db, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    code, out = verify(data)
    assert code == 6 and "broken at event 2" in out


def test_cut_tail_stays_caught_after_the_next_event(chain):
    """Cut the tail, fix the head row, delete or garble the checkpoint, then let a legitimate event arrive:
    the checkpoint is not silently recreated or replaced, so the finding stays."""
    data, db = chain
    sql(db, "DELETE FROM audit_events WHERE seq >= 6")
    sql(db, "UPDATE audit_head SET seq = 5, hash = ? WHERE id = 1", row(db, 5)["hash"])
    for damage in ("delete", "garble"):
        mark = data / "audit-head.json"
        mark.unlink(missing_ok=True) if damage == "delete" else mark.write_text("{garbage")
        ctx = Context(Settings.load("offline", data_dir=data))
        audit.record(ctx.store, mark, workspace="acme", actor="reviewer-9", action="note.add", target="note:9")
        ctx.close()
        code, out = verify(data)
        assert code == 6 and ("is missing" if damage == "delete" else "is damaged") in out
