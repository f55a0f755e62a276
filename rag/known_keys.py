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
import threading
import time

from rag.listener import listen, notify

CHANNEL = "ctrlmap_keys"
MAX_AGE = 60.0
MAX_KEYS = 10_000


def digest(key: str) -> bytes:
    """What a key is remembered by (not the key itself)."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def notify_revocation(s) -> None:
    """In a revocation's transaction (an ORM session on PostgreSQL): tell every process, at commit."""
    notify(s, CHANNEL)


class KnownKeys:
    def __init__(self, conninfo: str) -> None:
        self._known: dict[bytes, tuple[float, object]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self.live = False  # the listener is connected and listening
        self._stop = threading.Event()
        listen(self, conninfo, CHANNEL, self._stop, KnownKeys.forget, KnownKeys.set_live)

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
        """While the listener is not connected a revocation could go unheard: nothing is remembered."""
        with self._lock:
            self.live = live
            self._generation += 1
            self._known.clear()

    def close(self) -> None:
        self._stop.set()
        self.set_live(False)
