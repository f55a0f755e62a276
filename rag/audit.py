"""Append-only, keyed hash chain of audit events.

Each event's hash is an HMAC-SHA256, under a key kept outside the data directory (`rag.audit_key`), of its
content and the previous event's hash: altering, removing or reordering any event breaks the chain from that
point, and someone who can write the database but not read the key cannot recompute it. Chains written by the
previous release (plain sha256) still verify: the `audit_epochs` table records from which event on the chain
is keyed, and with which key. A head row (locked while appending, so the chain never forks) and a signed
checkpoint file beside the database record the last sequence number and hash, so truncating the tail, or
rewriting the chain and its head, is caught too; a missing, empty, damaged or unsigned checkpoint is a finding.
Events are appended inside the caller's transaction: a decision and its audit record commit or fail together.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from rag.audit_key import AuditKey, load_key
from rag.errors import ConfigError
from rag.models import sha256_hex
from rag.rawsql import Tx, inserts
from rag.reconcile import reconcile
from rag.store import AuditEpochRow, AuditHeadRow, AuditRow, check_lengths

GENESIS = "0" * 64
HASHED = ("seq", "workspace", "at", "actor", "action", "target", "outcome", "before", "after", "detail", "prev_hash")
LEGACY, KEYED = "sha256", "hmac-sha256"
CHECKPOINT_NAME = "audit-head.json"


def _payload(fields: dict) -> str:
    return json.dumps({k: fields[k] for k in HASHED}, sort_keys=True, separators=(",", ":"), default=str)


def event_hash(fields: dict) -> str:
    """The previous release's unkeyed hash (events before the first epoch)."""
    return sha256_hex(_payload(fields))


def keyed_hash(fields: dict, key: AuditKey) -> str:
    return key.mac(_payload(fields))


def chain_key(s) -> AuditKey:
    """The audit key of the settings the store was opened with (read once per store: every session and `Tx`
    of a store shares its `memo`). `s`: an ORM session or a `rag.rawsql.Tx`."""
    shared = s.shared if isinstance(s, Tx) else s.info
    memo = shared.get("memo", shared)
    if "audit_key" not in memo:
        settings = shared.get("settings")
        if settings is None:
            raise ConfigError("this database session carries no settings, so the audit key is unknown")
        memo["audit_key"] = load_key(settings)
    return memo["audit_key"]


def _keyed_from(s: Session) -> int | None:
    return s.scalar(select(AuditEpochRow.from_seq).order_by(AuditEpochRow.from_seq).limit(1))


def checkpoint_path(settings) -> Path:
    return settings.data_dir / CHECKPOINT_NAME


def _open_epoch(tx: Tx, head_seq: int, key: AuditKey) -> bool:
    """The chain is keyed from the next event on, unless it already is (and then only with this key). Once a
    signed checkpoint exists, the epoch is sealed: a missing checkpoint is never silently recreated. Returns
    whether the epoch was already sealed in the database (not just now, in a transaction that may yet roll
    back)."""
    epoch = tx.first("SELECT from_seq, key_id, sealed FROM audit_epochs ORDER BY from_seq DESC LIMIT 1")
    if epoch is None:
        tx.run("INSERT INTO audit_epochs (from_seq, scheme, key_id, sealed) VALUES (:from_seq, :scheme, :key_id, "
               ":sealed)", {"from_seq": head_seq + 1, "scheme": KEYED, "key_id": key.key_id, "sealed": False})
        return False
    if epoch["key_id"] != key.key_id:
        raise ConfigError(f"the audit chain is keyed with key {epoch['key_id']}, but the configured key "
                          f"({key.source}) is {key.key_id}: set CTRLMAP_AUDIT_KEY_FILE or CTRLMAP_AUDIT_KEY to the "
                          "original key")
    if epoch["sealed"]:
        return True
    mark, problem = read_mark(checkpoint_path(tx.shared["settings"]))
    if not problem and _signed(mark, key):
        tx.run("UPDATE audit_epochs SET sealed = :sealed WHERE from_seq = :from_seq",
               {"sealed": True, "from_seq": epoch["from_seq"]})
    return False


def _locked_head(tx: Tx) -> dict:
    """The chain head (`seq`, `hash`), locked until the transaction ends; read once per transaction (later
    appends in the same transaction reuse it, so a decision with several events takes the lock once)."""
    head = tx.local.get("audit_head")
    if head is not None:
        return head
    head = tx.first("SELECT seq, hash FROM audit_head WHERE id = 1" + tx.lock())
    if head is None:
        head = {"seq": 0, "hash": GENESIS}
        tx.run("INSERT INTO audit_head (id, seq, hash) VALUES (1, :seq, :hash)", head)
    tx.local["audit_head"] = head
    return head


def _ensure_epoch(tx: Tx, head: dict, key: AuditKey) -> None:
    """`_open_epoch` once per transaction, and not at all once this store has seen the epoch sealed with
    this key (a sealed epoch never changes; verification still checks it)."""
    memo = tx.shared.get("memo", tx.shared)
    if tx.local.get("audit_epoch_open") or memo.get("audit_epoch_sealed") == key.key_id:
        return
    sealed = _open_epoch(tx, head["seq"], key)
    tx.local["audit_epoch_open"] = True
    if sealed:
        memo["audit_epoch_sealed"] = key.key_id


def append(s, *, workspace: str, actor: str, action: str, target: str, outcome: str = "ok",
           before: dict | None = None, after: dict | None = None, **detail) -> dict:
    """One event at the head of the chain, in the caller's transaction (`s`: an ORM session or a `Tx`);
    returns its stored fields."""
    return append_many(s, [dict(workspace=workspace, actor=actor, action=action, target=target, outcome=outcome,
                                before=before, after=after, **detail)])[0]


def append_many(s, events: list[dict]) -> list[dict]:
    """Events (each with `append`'s arguments) chained in order at the head, in the caller's transaction,
    in hand-written SQL (`rag.rawsql`): under load every decision appends, and the ORM's statements cost
    more than the hashing."""
    if not events:
        return []
    tx = s if isinstance(s, Tx) else Tx.of_session(s)
    key = chain_key(tx)
    head = _locked_head(tx)
    _ensure_epoch(tx, head, key)
    rows = []
    for event in events:
        rows.append(_chained(head, key, **event))
        head["seq"], head["hash"] = rows[-1]["seq"], rows[-1]["hash"]
    stored = [{**r, **{k: tx.json_in(r[k]) for k in ("before", "after", "detail")}} for r in rows]
    tx.run_together([*inserts("audit_events", stored),
                     ("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1", dict(head))])
    return rows


def _chained(head: dict, key: AuditKey, *, workspace: str, actor: str, action: str, target: str,
             outcome: str = "ok", before: dict | None = None, after: dict | None = None, **detail) -> dict:
    fields = dict(seq=head["seq"] + 1, workspace=workspace, at=datetime.now(timezone.utc).isoformat(),
                  actor=actor, action=action, target=target, outcome=outcome, before=before or {},
                  after=after or {}, detail={k: v for k, v in detail.items() if v is not None},
                  prev_hash=head["hash"])
    fields = json.loads(json.dumps(fields, default=str))  # what the database will give back
    fields["hash"] = keyed_hash(fields, key)
    check_lengths(AuditRow.__table__, fields.get)
    return fields


# --- the checkpoint file ---------------------------------------------------------------------------------

_checkpoint_lock = threading.Lock()
MARK_FIELDS = ("seq", "hash", "scheme", "keyed_from", "key_id")


def _signature(mark: dict, key: AuditKey) -> str:
    return key.mac("checkpoint:" + json.dumps({k: mark.get(k) for k in MARK_FIELDS}, sort_keys=True))


def checkpoint(s: Session, path: Path) -> None:
    """Write the chain head, signed, to a file outside the database (best effort; verification reads it).
    Concurrent writers each use their own temporary file, and the mark only moves forward. A damaged or
    forged file is left as it is (verification reports it), and so is a missing one once a signed checkpoint
    has existed: recreating it would hide a cut-off tail."""
    head = s.get(AuditHeadRow, 1)
    if head is None:
        return
    key = chain_key(s)
    epoch = s.scalar(select(AuditEpochRow).order_by(AuditEpochRow.from_seq).limit(1))
    mark = {"seq": head.seq, "hash": head.hash, "scheme": KEYED, "keyed_from": epoch.from_seq if epoch else None,
            "key_id": key.key_id}
    mark["mac"] = _signature(mark, key)
    with _checkpoint_lock:
        if not _replaceable(s, path, key, head.seq, bool(epoch and epoch.sealed)):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(mark))
        tmp.replace(path)


def _replaceable(s: Session, path: Path, key: AuditKey, seq: int, sealed: bool) -> bool:
    mark, problem = read_mark(path)
    if problem:
        return problem.endswith("is missing") and not sealed
    if "mac" not in mark:  # the previous release's checkpoint: replaced once, if the chain agrees with it
        return s.scalar(select(AuditRow.hash).where(AuditRow.seq == mark["seq"])) == mark["hash"]
    return _signed(mark, key) and mark["seq"] < seq


def _signed(mark: dict, key: AuditKey) -> bool:
    return bool(mark.get("mac")) and hmac.compare_digest(str(mark["mac"]), _signature(mark, key))


def read_mark(path: Path) -> tuple[dict, str]:
    """The checkpoint's content, or what is wrong with the file."""
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return {}, f"the checkpoint file {path.name} is missing"
    except (OSError, UnicodeDecodeError) as exc:
        return {}, f"the checkpoint file {path.name} cannot be read ({exc.__class__.__name__})"
    if not raw.strip():
        return {}, f"the checkpoint file {path.name} is empty"
    try:
        mark = json.loads(raw)
        valid = isinstance(mark, dict) and isinstance(mark.get("seq"), int) and isinstance(mark.get("hash"), str)
    except ValueError:
        valid = False
    if not valid:
        return {}, f"the checkpoint file {path.name} is damaged (not a sequence number and hash)"
    return mark, ""


def record(store, checkpoint_file: Path | None, **event) -> None:
    """Append one event in a transaction of its own (uploads, sign-ins), then move the checkpoint."""
    with store.session(write=True) as s:
        append(s, **event)
    if checkpoint_file is not None:
        with store.session() as s:
            checkpoint(s, checkpoint_file)


# --- verification --------------------------------------------------------------------------------------


@dataclass
class Verification:
    ok: bool
    events: int
    first_bad: int | None = None
    problem: str = ""
    findings: list[str] = field(default_factory=list)  # every problem found, the first one is `problem`
    legacy_events: int = 0  # events of the previous release's unkeyed chain, before keying began

    def add(self, problem: str, at: int | None = None) -> None:
        if self.ok:
            self.ok, self.problem, self.first_bad = False, problem, at
        self.findings.append(problem)


def verify(s: Session, checkpoint_file: Path | None = None) -> Verification:
    """Recompute the chain; then compare it with its head row, (when given) the signed checkpoint file, and the
    proposals, decisions and citations the chain recorded."""
    keyed_from = _keyed_from(s)
    try:
        key = chain_key(s)
    except ConfigError as exc:
        result = Verification(True, 0)
        result.add(f"the audit key cannot be loaded, so keyed events cannot be checked: {exc.message}", keyed_from)
        return result
    mark, mark_problem = read_mark(checkpoint_file) if checkpoint_file is not None else ({}, "")
    result, last, marked = _walk(s, key, keyed_from, mark.get("seq"))
    if not result.ok:
        return result
    head = s.get(AuditHeadRow, 1)
    n = result.events
    if head is not None and head.seq != n:
        result.add(f"the chain head records {head.seq} events; {n} remain (tail removed)", n + 1)
    elif head is not None and head.hash != last:
        result.add("the last event differs from the chain head (the chain was rewritten)", n)
    if checkpoint_file is not None:
        _check_mark(result, (mark, mark_problem, checkpoint_file.name), key, keyed_from, marked)
    for finding in reconcile(s):
        result.add(finding)
    return result


def _walk(s: Session, key: AuditKey, keyed_from: int | None,
          watch: int | None) -> tuple[Verification, str, str | None]:
    """Recompute every event; returns the result, the last hash and the hash of event `watch`."""
    expected_seq, prev, watched = 1, GENESIS, None
    result = Verification(True, 0)
    for row in s.scalars(select(AuditRow).order_by(AuditRow.seq)):
        fields = {k: getattr(row, k) for k in HASHED}
        keyed = keyed_from is not None and row.seq >= keyed_from
        if row.seq != expected_seq:
            result.add(f"event {expected_seq} is missing (next is {row.seq})", row.seq)
        elif row.prev_hash != prev:
            result.add("does not follow the event before it (removed or reordered)", row.seq)
        elif not hmac.compare_digest(keyed_hash(fields, key) if keyed else event_hash(fields), row.hash):
            result.add("content was altered after it was written (or hashed without the audit key)", row.seq)
        if not result.ok:
            break
        watched = row.hash if row.seq == watch else watched
        result.legacy_events += not keyed
        prev, expected_seq, result.events = row.hash, expected_seq + 1, result.events + 1
    return result, prev, watched


def _check_mark(result: Verification, read: tuple[dict, str, str], key: AuditKey, keyed_from: int | None,
                marked: str | None) -> None:
    n = result.events
    mark, problem, name = read
    if problem:
        if n or not problem.endswith("is missing"):
            result.add(f"{problem}: a removed tail or a rewritten chain could go unnoticed", n or None)
        return
    if "mac" not in mark:
        if keyed_from is not None:
            result.add(f"the checkpoint file {name} is not signed (replaced by someone without the key)", n)
            return
    elif not _signed(mark, key):
        other = f" (signed with key {mark.get('key_id')}, the configured key is {key.key_id})" \
            if mark.get("key_id") != key.key_id else ""
        result.add(f"the checkpoint file's signature does not match: it was forged or altered{other}", n)
        return
    elif mark.get("keyed_from") != keyed_from:
        result.add(f"the checkpoint records a chain keyed from event {mark.get('keyed_from')}, the database from "
                   f"{keyed_from} (the chain's keying was altered)", keyed_from or 1)
        return
    if mark["seq"] > n:
        result.add(f"the checkpoint file records {mark['seq']} events; the database holds {n} (tail removed)", n + 1)
    elif mark["seq"] and marked != mark["hash"]:
        result.add(f"event {mark['seq']} differs from the checkpoint file (the chain was rewritten)", mark["seq"])


def events(s: Session, workspace: str, limit: int = 200, offset: int = 0) -> list[dict]:
    rows = s.scalars(select(AuditRow).where(AuditRow.workspace == workspace)
                     .order_by(AuditRow.seq.desc()).limit(limit).offset(offset))
    return [{k: getattr(r, k) for k in (*HASHED, "hash")} for r in rows]


def verify_store(ctx) -> Verification:
    """`verify` over the context's store and checkpoint, in a read transaction of its own (what faces call)."""
    with ctx.store.session() as s:
        return verify(s, checkpoint_path(ctx.settings))


def read_events(ctx, workspace: str, limit: int = 200, offset: int = 0) -> list[dict]:
    """The workspace's events, newest first, in a read transaction of its own (what faces call)."""
    with ctx.store.session() as s:
        return events(s, workspace, limit, offset)


def advance_checkpoint(ctx) -> None:
    """Move the checkpoint to the chain head after a transaction committed: at once, or, in a server whose
    context has a `Pacer`, from the pacer's thread a moment later."""
    pacer = getattr(ctx, "checkpoint_pacer", None)
    if pacer is not None:
        pacer.poke()
        return
    with ctx.store.session() as s:
        checkpoint(s, checkpoint_path(ctx.settings))


class Pacer:
    """Moves the checkpoint from a background thread at most every `seconds`, after commits were announced
    with `poke`: under many concurrent reviewers, decisions do not each read and rewrite the file (and queue on
    its lock). The checkpoint then trails the chain by at most `seconds` (a tail cut within that window is
    still caught by the head row); `stop` writes the last one."""

    def __init__(self, ctx, seconds: float) -> None:
        self.ctx, self.seconds = ctx, seconds
        self._due, self._stopping = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-checkpoint", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._due.set()

    def _write(self) -> None:
        self._due.clear()
        try:
            with self.ctx.store.session() as s:
                checkpoint(s, checkpoint_path(self.ctx.settings))
        except Exception:  # noqa: BLE001 - best effort, like the synchronous path; verification reports a lag
            logging.getLogger(__name__).exception("the audit checkpoint could not be written")

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._due.wait(timeout=1.0) and not self._stopping.is_set():
                self._write()
                self._stopping.wait(self.seconds)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        if self._due.is_set():
            self._write()
