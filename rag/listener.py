"""PostgreSQL notifications between processes: one channel, one listener thread per owner.

`notify(s, channel)` inside a transaction tells every listening process at commit. `listen(...)` starts a
thread that holds its own connection, LISTENs, and calls the owner back: `on_notice(owner)` for each
notification, `on_live(owner, live)` when it connects and when it loses the connection (a notification sent
meanwhile is lost, so an owner must not rely on one while not live). The thread holds no reference to its
owner between calls: it ends when the owner is gone or `stop` is set.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Callable

POLL_S = 0.5  # how long the listener waits for a notification before checking it should stop
RETRY_S = 1.0  # how long it waits before connecting again

log = logging.getLogger(__name__)


def notify(s, channel: str) -> None:
    """In a transaction (an ORM session on PostgreSQL): tell every listener on `channel`, at commit."""
    from sqlalchemy import text

    s.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


def listen(owner: object, conninfo: str, channel: str, stop: threading.Event,
           on_notice: Callable[[object], None], on_live: Callable[[object, bool], None]) -> None:
    threading.Thread(target=_listen, args=(weakref.ref(owner), conninfo, channel, stop, on_notice, on_live),
                     daemon=True, name=f"listen-{channel}").start()


def _listen(owner: weakref.ref, conninfo: str, channel: str, stop: threading.Event, on_notice, on_live) -> None:
    import psycopg

    while _tell(owner, stop, lambda _: None):
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"LISTEN {channel}")
                _tell(owner, stop, lambda o: on_live(o, True))
                while _tell(owner, stop, lambda _: None):
                    for _ in conn.notifies(timeout=POLL_S, stop_after=1):
                        _tell(owner, stop, on_notice)
                    conn.execute("SELECT 1")  # a connection that died without a word raises here
        except Exception as exc:  # noqa: BLE001 - the database went away: the owner is told, then we retry
            log.warning("notifications on %s: the listener lost its connection (%s); retrying", channel,
                        type(exc).__name__)
        finally:
            _tell(owner, None, lambda o: on_live(o, False))
        stop.wait(RETRY_S)


def _tell(owner: weakref.ref, stop: threading.Event | None, action) -> bool:
    """`action(owner)` while the owner is alive (and not stopped); whether it still is."""
    target = owner()
    if target is None or (stop is not None and stop.is_set()):
        return False
    action(target)
    return True
