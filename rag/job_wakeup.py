"""What an idle job worker waits on, so that it need not ask the database for work twice a second.

A job queued in this process wakes its workers at once; on PostgreSQL, `submit` also NOTIFYs `CHANNEL` in its
transaction, and every process's listener wakes its workers at commit. While that listener is connected an
idle worker looks at the queue only every `job_idle_poll_s` (for leases that expired: a worker that died says
nothing); on SQLite, or while the listener is not connected, it looks every `job_poll_s`, as before.
"""

from __future__ import annotations

import threading
import time
import weakref

from rag.listener import listen, notify

CHANNEL = "ctrlmap_jobs"
STOP_CHECK_S = 0.5  # a waiting worker notices `stop` within this long
_wakeups: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_guard = threading.Lock()


class Wakeup:
    def __init__(self, conninfo: str | None) -> None:
        self.rung, self.live, self._stop = threading.Event(), False, threading.Event()
        if conninfo is not None:
            listen(self, conninfo, CHANNEL, self._stop, Wakeup.ring, Wakeup.set_live)

    def ring(self) -> None:
        self.rung.set()

    def set_live(self, live: bool) -> None:
        self.live = live
        self.rung.set()  # a notification may have been missed while it was not connected: look now

    def wait(self, stop: threading.Event, poll_s: float, idle_poll_s: float) -> None:
        """Until rung, `stop` is set, or the poll interval (the long one while notifications are heard)."""
        deadline = time.monotonic() + (idle_poll_s if self.live else poll_s)
        while not stop.is_set() and not self.rung.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.rung.wait(min(left, STOP_CHECK_S))
            if not self.live:  # lost the listener meanwhile: back to the short interval
                deadline = min(deadline, time.monotonic() + poll_s)

    def close(self) -> None:
        self._stop.set()
        self.live = False


def of(store) -> Wakeup:
    """The store's wakeup (started with its first worker; closed with the store)."""
    with _guard:
        wakeup = _wakeups.get(store)
        if wakeup is None:
            wakeup = _wakeups[store] = Wakeup(store.conninfo)
            store.on_dispose.append(wakeup.close)
        return wakeup


def announce(store, s) -> None:
    """In the transaction that queues a job: every process's workers are woken at commit."""
    if not store.is_sqlite:
        notify(s, CHANNEL)


def ring(store) -> None:
    """After a job was queued in this process: its own workers look at once."""
    wakeup = _wakeups.get(store)
    if wakeup is not None:
        wakeup.ring()
