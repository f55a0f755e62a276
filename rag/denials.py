"""Refused requests: counted per client, outcome and minute instead of one audit event each, and limited.

Each refusal (no valid key or session, too small a role, a failed sign-in, a cross-site form) adds one to
the row of its client, outcome and minute in `denied_requests`, a table apart from the audit chain. A client
refused more than `CTRLMAP_DENIED_PER_MINUTE` times in a minute gets 429 for the rest of that minute, before
its credentials are even looked at; while it is throttled its refusals are counted in memory and written at
most every FLUSH_S seconds, so a flood costs neither a write per request nor a growing log. Counters older
than `CTRLMAP_DENIED_RETENTION_DAYS` are deleted; the audit chain is never touched.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from rag.context import Context
from rag.store import DeniedRequestRow

FLUSH_S = 5.0
PRUNE_S = 3600.0

Slot = tuple[str, datetime, str]  # client, minute, outcome


def _minute() -> datetime:
    return datetime.now(timezone.utc).replace(second=0, microsecond=0)


class Denials:
    """One per service process: the per-minute counts the limit reads, and the rows not yet written."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._minute = _minute()
        self._per_client: Counter[str] = Counter()
        self._pending: Counter[Slot] = Counter()
        self._last: dict[Slot, tuple[str, str]] = {}  # actor and target of the latest refusal per slot
        self._flushed_at = self._pruned_at = 0.0

    @property
    def limit(self) -> int:
        return self.ctx.settings.denied_per_minute

    def _roll(self) -> datetime:
        now = _minute()
        if now != self._minute:
            self._minute, self._per_client = now, Counter()
        return now

    def throttled(self, client: str) -> bool:
        with self._lock:
            self._roll()
            return self._per_client[client[:64]] >= self.limit

    def note(self, client: str, outcome: str, actor: str = "", target: str = "") -> None:
        """Count one refusal (blocking: it may write; call it from a worker thread in async code)."""
        client = client[:64]
        with self._lock:
            slot = (client, self._roll(), outcome[:32])
            self._per_client[client] += 1
            self._pending[slot] += 1
            self._last[slot] = (actor[:256], target[:256])
            due = self._per_client[client] <= self.limit or time.monotonic() - self._flushed_at >= FLUSH_S
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, last, self._pending, self._last = self._pending, self._last, Counter(), {}
            self._flushed_at = time.monotonic()
        if not pending:
            return
        try:
            self._write(pending, last)
        except IntegrityError:  # another process inserted the same slot first: add to its row
            self._write(pending, last)
        if time.monotonic() - self._pruned_at >= PRUNE_S:
            self._pruned_at = time.monotonic()
            prune(self.ctx)

    def _write(self, pending: Counter[Slot], last: dict[Slot, tuple[str, str]]) -> None:
        with self.ctx.store.session(write=True) as s:
            for (client, window, outcome), n in pending.items():
                row = s.get(DeniedRequestRow, (client, window, outcome))
                if row is None:
                    row = DeniedRequestRow(client=client, window=window, outcome=outcome, count=0)
                    s.add(row)
                row.count += n
                row.actor, row.last_target = last[(client, window, outcome)]
                row.last_at = datetime.now(timezone.utc)


def prune(ctx: Context) -> int:
    """Delete counters past the retention period; returns how many rows went."""
    cutoff = datetime.now(timezone.utc) - timedelta(days=ctx.settings.denied_retention_days)
    with ctx.store.session(write=True) as s:
        return s.execute(delete(DeniedRequestRow).where(DeniedRequestRow.window < cutoff)).rowcount or 0


def recent(ctx: Context, limit: int = 100) -> list[dict]:
    """The latest counters, newest first."""
    with ctx.store.session() as s:
        rows = s.scalars(select(DeniedRequestRow).order_by(DeniedRequestRow.window.desc(),
                                                           DeniedRequestRow.count.desc()).limit(limit))
        return [{"client": r.client, "window": r.window, "outcome": r.outcome, "count": r.count, "actor": r.actor,
                 "last_target": r.last_target} for r in rows]
