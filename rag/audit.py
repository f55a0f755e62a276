"""Append-only, hash-chained audit log.

Each event's hash covers its content and the previous event's hash, so altering, removing or reordering any
event breaks the chain from that point. A head row (locked while appending, so the chain never forks) and a
checkpoint file beside the database record the last sequence number and hash, so truncating the tail is
caught too. Events are appended inside the caller's transaction: a decision and its audit record commit or
fail together.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from rag.models import sha256_hex
from rag.store import AuditHeadRow, AuditRow

GENESIS = "0" * 64
HASHED = ("seq", "workspace", "at", "actor", "action", "target", "outcome", "before", "after", "detail", "prev_hash")


def event_hash(fields: dict) -> str:
    payload = json.dumps({k: fields[k] for k in HASHED}, sort_keys=True, separators=(",", ":"), default=str)
    return sha256_hex(payload)


def append(s: Session, *, workspace: str, actor: str, action: str, target: str, outcome: str = "ok",
           before: dict | None = None, after: dict | None = None, **detail) -> AuditRow:
    head = s.get(AuditHeadRow, 1, with_for_update=True)
    if head is None:
        head = AuditHeadRow(id=1, seq=0, hash=GENESIS)
        s.add(head)
        s.flush()
    fields = dict(seq=head.seq + 1, workspace=workspace, at=datetime.now(timezone.utc).isoformat(),
                  actor=actor, action=action, target=target, outcome=outcome, before=before or {},
                  after=after or {}, detail={k: v for k, v in detail.items() if v is not None},
                  prev_hash=head.hash)
    fields = json.loads(json.dumps(fields, default=str))  # what the database will give back
    row = AuditRow(**fields, hash=event_hash(fields))
    s.add(row)
    head.seq, head.hash = row.seq, row.hash
    return row


_checkpoint_lock = threading.Lock()


def checkpoint(s: Session, path: Path) -> None:
    """Write the chain head to a file outside the database (best effort; verification reads it). Concurrent
    writers each use their own temporary file, and the mark only moves forward."""
    head = s.get(AuditHeadRow, 1)
    if head is None:
        return
    with _checkpoint_lock:
        if _recorded_seq(path) >= head.seq:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"seq": head.seq, "hash": head.hash}))
        tmp.replace(path)


def _recorded_seq(path: Path) -> int:
    try:
        return int(json.loads(path.read_text())["seq"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def record(store, checkpoint_file: Path | None, **event) -> None:
    """Append one event in a transaction of its own (uploads, denied attempts), then move the checkpoint."""
    with store.session(write=True) as s:
        append(s, **event)
    if checkpoint_file is not None:
        with store.session() as s:
            checkpoint(s, checkpoint_file)


@dataclass
class Verification:
    ok: bool
    events: int
    first_bad: int | None = None
    problem: str = ""


def verify(s: Session, checkpoint_file: Path | None = None) -> Verification:
    mark = json.loads(checkpoint_file.read_text()) if checkpoint_file and checkpoint_file.exists() else None
    expected_seq, prev, n, marked = 1, GENESIS, 0, None
    for row in s.scalars(select(AuditRow).order_by(AuditRow.seq)):
        fields = {k: getattr(row, k) for k in HASHED}
        if row.seq != expected_seq:
            return Verification(False, n, row.seq, f"event {expected_seq} is missing (next is {row.seq})")
        if row.prev_hash != prev:
            return Verification(False, n, row.seq, "does not follow the event before it (removed or reordered)")
        if event_hash(fields) != row.hash:
            return Verification(False, n, row.seq, "content was altered after it was written")
        if mark and row.seq == mark["seq"]:
            marked = row.hash
        prev, expected_seq, n = row.hash, expected_seq + 1, n + 1
    head = s.get(AuditHeadRow, 1)
    if head is not None and head.seq != n:
        return Verification(False, n, n + 1, f"the chain head records {head.seq} events; {n} remain (tail removed)")
    if head is not None and head.hash != prev:
        return Verification(False, n, n, "the last event differs from the chain head (the chain was rewritten)")
    if mark and mark["seq"] > n:
        return Verification(False, n, n + 1,
                            f"the checkpoint file records {mark['seq']} events; the database holds {n} (tail removed)")
    if mark and marked != mark["hash"]:
        return Verification(False, n, mark["seq"], f"event {mark['seq']} differs from the checkpoint file "
                                                   "(the chain was rewritten)")
    return Verification(True, n)


def events(s: Session, workspace: str, limit: int = 200, offset: int = 0) -> list[dict]:
    rows = s.scalars(select(AuditRow).where(AuditRow.workspace == workspace)
                     .order_by(AuditRow.seq.desc()).limit(limit).offset(offset))
    return [{k: getattr(r, k) for k in (*HASHED, "hash")} for r in rows]
