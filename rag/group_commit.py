"""Group commit: writes submitted at the same moment share one transaction.

Under many concurrent reviewers, each decision paid for its own BEGIN, its own turn on the audit chain's head
(locked until commit, so decisions queued on it one by one) and its own COMMIT. `GroupCommit.submit(work)` runs
`work(tx)` in a transaction with whatever other work was submitted while the previous transaction ran, then
`finish(tx, values)` once for all of them (appending their audit events in one go), then commits: the
database's classic group commit, in the application. Nobody waits for a timer: the first submitter leads, the
others queue while it runs, and the leader hands the queue to the next in line.

Each piece of work behaves as if it ran alone: it sees the work before it in the batch (as it would have seen
it committed), and its caller gets its own value or its own error. When a piece fails with a domain error
(`CtrlmapError`: not found, a conflict, ...) that one gets its error and the others run again without it;
when anything else fails (the database refused, a deadlock, the commit), each runs again on its own, so one
caller's problem never becomes another's. `work` must therefore be safe to run again (it reads what it needs
inside `tx`), and it must not commit.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import Any, Callable, Generic, TypeVar

from rag.errors import CtrlmapError

T = TypeVar("T")
Work = Callable[[Any], T]


class _Slot(Generic[T]):
    __slots__ = ("work", "done", "leads", "value", "error", "_event")

    def __init__(self, work: Work) -> None:
        self.work, self.done, self.leads = work, False, False
        self.value, self.error = None, None
        self._event = threading.Event()

    def settle(self, value=None, error: BaseException | None = None) -> None:
        self.value, self.error, self.done = value, error, True
        self._event.set()

    def wait(self) -> None:
        self._event.wait()

    def wake_to_lead(self) -> None:
        self.leads = True
        self._event.set()

    def result(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value


class GroupCommit(Generic[T]):
    """`begin()`: a context manager giving a transaction that commits when it exits cleanly and rolls back
    when it does not. `finish(tx, values)`: run once per transaction after every piece of work in it.
    `limit`: the most pieces of work in one transaction."""

    def __init__(self, begin: Callable[[], AbstractContextManager], finish: Callable[[Any, list[T]], None],
                 limit: int = 32) -> None:
        self._begin, self._finish, self._limit = begin, finish, limit
        self._lock = threading.Lock()
        self._queue: list[_Slot[T]] = []
        self._leading = False
        self.batches = self.submitted = 0  # for the benchmarks: the mean batch is submitted / batches

    def submit(self, work: Work) -> T:
        """`work(tx)`'s value once its transaction has committed (or its error)."""
        slot = _Slot(work)
        with self._lock:
            self.submitted += 1
            self._queue.append(slot)
            if not self._leading:
                self._leading = slot.leads = True
        if not slot.leads:
            slot.wait()  # settled by a leader, or woken to lead
        if slot.leads and not slot.done:
            self._lead()
        return slot.result()

    def _lead(self) -> None:
        """Run the queue's first batch (which holds the leader's own work), then pass the lead on."""
        with self._lock:
            batch, self._queue = self._queue[:self._limit], self._queue[self._limit:]
            self.batches += 1
        try:
            self._run(batch)
        finally:
            for slot in batch:
                if not slot.done:  # only after an interruption (KeyboardInterrupt, SystemExit)
                    slot.settle(error=CtrlmapError("the transaction was interrupted"))
            with self._lock:
                following = self._queue[0] if self._queue else None
                self._leading = following is not None
                if following is not None:
                    following.wake_to_lead()

    def _run(self, batch: list[_Slot[T]]) -> None:
        at = 0
        try:
            with self._begin() as tx:
                values = []
                for at, slot in enumerate(batch):
                    values.append(slot.work(tx))
                at = len(batch)
                self._finish(tx, values)
        except CtrlmapError as exc:
            if at < len(batch):  # that piece's own refusal: the others again, without it
                batch[at].settle(error=exc)
                rest = batch[:at] + batch[at + 1:]
                if rest:
                    self._run(rest)
                return
            self._alone(batch, exc)
        except Exception as exc:  # noqa: BLE001 - each caller gets its own outcome, alone
            self._alone(batch, exc)
        else:
            for slot, value in zip(batch, values):
                slot.settle(value)

    def _alone(self, batch: list[_Slot[T]], exc: Exception) -> None:
        if len(batch) == 1:
            batch[0].settle(error=exc)
            return
        for slot in batch:
            self._run([slot])
