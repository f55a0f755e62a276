"""The audit chain stays one chain with concurrent writers on PostgreSQL: appends are serialized in the database
(the head row is locked with SELECT ... FOR UPDATE), not by a Python lock, so writers in separate connections
and processes never fork it or collide on a sequence number."""

from __future__ import annotations

import threading

from rag import audit
from rag.settings import Settings
from rag.store import Store

WRITERS, EACH = 8, 25


def test_concurrent_appends_on_postgresql_keep_one_chain(pg_url, tmp_path):
    settings = Settings.load("offline", data_dir=tmp_path / "data", database_url=pg_url)
    stores = [Store(settings) for _ in range(WRITERS)]  # one engine each: as separate processes would be
    assert not stores[0].is_sqlite
    start, failures = threading.Barrier(WRITERS), []

    def write(n: int, store: Store) -> None:
        start.wait()
        for i in range(EACH):
            try:
                audit.record(store, None, workspace="acme", actor=f"reviewer-{n}", action="proposal.approve",
                             target=f"proposal:{n}-{i}", after={"status": "approved"})
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                failures.append(repr(exc))

    threads = [threading.Thread(target=write, args=(n, store)) for n, store in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with stores[0].session() as s:
        result = audit.verify(s)
        targets = {e["target"] for e in audit.events(s, "acme", limit=WRITERS * EACH + 1)}
    assert result.ok and result.events == WRITERS * EACH, result.problem
    assert len(targets) == WRITERS * EACH
    for store in stores:
        store.dispose()


def test_thousands_of_events_in_one_append_are_inserted_in_chunks(backend):
    """A bulk decision appends one event per proposal in one transaction; the multi-row INSERT is split below
    the databases' limit on a statement's parameters (12 per event; 3,000 events need 36,000)."""
    data, url = backend
    store = Store(Settings.load("offline", data_dir=data, database_url=url))
    events = [dict(workspace="acme", actor="Ana Ortiz", action="export.download", target=f"export:{i}",
                   after={"format": "csv"}) for i in range(3000)]
    with store.raw(write=True) as tx:
        rows = audit.append_many(tx, events)
    assert [r["seq"] for r in rows] == list(range(1, 3001))
    with store.session() as s:
        result = audit.verify(s)
    assert result.ok and result.events == 3000, result.problem
    store.dispose()
