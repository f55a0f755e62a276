"""Keys an API process has recently found valid, so a reviewer's every request does not look its key up again
(two of the dozen statements a decision made, opening the proposal included). PostgreSQL only.

Revocation stays immediate. Each process LISTENs on `CHANNEL`; revoking a key NOTIFYs in the revoking
transaction, so every process forgets what it knew as soon as the revocation commits. A lookup that began
before a revocation is not remembered after it (`generation` guards that race); nothing is remembered while
the listener is not connected; and nothing is kept longer than `MAX_AGE` seconds. On SQLite (one process,
an in-process lookup without a round trip) every request looks its key up.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import weakref

CHANNEL = "ctrlmap_keys"
MAX_AGE = 60.0
MAX_KEYS = 10_000
POLL_S = 0.5  # how long the listener waits for a notification before checking it should stop

log = logging.getLogger(__name__)


def digest(key: str) -> bytes:
    """What a key is remembered by (not the key itself)."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def notify_revocation(s) -> None:
    """In a revocation's transaction (an ORM session on PostgreSQL): tell every process, at commit."""
    from sqlalchemy import text

    s.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class KnownKeys:
    def __init__(self, conninfo: str) -> None:
        self._known: dict[bytes, tuple[float, object]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self.live = False  # the listener is connected and listening
        self._stop = threading.Event()
        threading.Thread(target=_listen, args=(weakref.ref(self), conninfo, self._stop), daemon=True,
                         name="key-revocations").start()

    def generation(self) -> int | None:
        """To pass to `remember` after the lookup; None while nothing may be remembered."""
        return self._generation if self.live else None

    def get(self, key_digest: bytes):
        hit = self._known.get(key_digest)
        if hit is None or not self.live or hit[0] < time.monotonic():
            return None
        return hit[1]

    def remember(self, key_digest: bytes, principal, generation: int | None) -> None:
        with self._lock:
            if generation is None or generation != self._generation or not self.live:
                return  # a revocation (or a lost listener) came between the lookup and now
            if len(self._known) >= MAX_KEYS:
                self._known.clear()
            self._known[key_digest] = (time.monotonic() + MAX_AGE, principal)

    def forget(self) -> None:
        with self._lock:
            self._generation += 1
            self._known.clear()

    def set_live(self, live: bool) -> None:
        with self._lock:
            self.live = live
            self._generation += 1
            self._known.clear()

    def close(self) -> None:
        self._stop.set()
        self.set_live(False)


def _listen(owner: weakref.ref, conninfo: str, stop: threading.Event) -> None:
    """The listener thread: holds its own connection, forgets on every notification, and ends when the
    owner is closed or gone. A lost connection forgets everything and stops remembering until it is back."""
    import psycopg

    while _tell(owner, stop, lambda known: None):
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                _tell(owner, stop, lambda known: known.set_live(True))
                while _tell(owner, stop, lambda known: None):
                    for _ in conn.notifies(timeout=POLL_S, stop_after=1):
                        _tell(owner, stop, KnownKeys.forget)
                    conn.execute("SELECT 1")  # a connection that died without a word raises here
        except Exception as exc:  # noqa: BLE001 - the database went away: remember nothing until it is back
            log.warning("key revocations: the listener lost its connection (%s); keys are looked up on every "
                        "request until it is back", type(exc).__name__)
        finally:
            _tell(owner, None, lambda known: known.set_live(False))
        stop.wait(1.0)


def _tell(owner: weakref.ref, stop: threading.Event | None, action) -> bool:
    """`action(known)` while the owner is alive (and not stopped); whether it still is. The thread holds no
    reference to its owner between calls, so a store that is dropped without being closed ends it too."""
    known = owner()
    if known is None or (stop is not None and stop.is_set()):
        return False
    action(known)
    return True
