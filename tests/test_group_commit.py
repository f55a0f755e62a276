"""Group commit (rag/group_commit.py): concurrent submitters share transactions, and each still gets its own
outcome: its value once committed, or its own error, with nothing of it committed."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest

from rag.errors import Conflict
from rag.group_commit import GroupCommit


class FakeDatabase:
    """Transactions are lists of writes; a clean exit commits them (in order), an error discards them."""

    def __init__(self, commit_delay: float = 0.0, fail_commits_with: set | None = None) -> None:
        self.committed: list[list] = []
        self.delay, self.fail_with = commit_delay, fail_commits_with or set()
        self.lock = threading.Lock()

    @contextmanager
    def begin(self):
        tx: list = []
        yield tx
        time.sleep(self.delay)  # the commit's own time, during which others queue
        if self.fail_with & set(tx) and sum(isinstance(w, str) for w in tx) > 1:
            raise RuntimeError("deadlock detected")  # the database refused this combination
        with self.lock:
            self.committed.append(tx)

    def writes(self) -> list:
        return [w for tx in self.committed for w in tx]


def finish_marks(tx: list, values: list) -> None:
    tx.append(("finish", tuple(values)))


def concurrently(submit, works: list, timeout: float = 20.0) -> list:
    results: list = [None] * len(works)

    def run(i: int) -> None:
        try:
            results[i] = ("value", submit(works[i]))
        except Exception as exc:  # noqa: BLE001 - recorded for the assertions
            results[i] = ("error", exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a submitter never got its outcome"
    return results


def writing(name: str):
    def work(tx: list) -> str:
        tx.append(name)
        return name.upper()
    return work


def test_concurrent_work_shares_transactions_and_each_gets_its_value():
    db = FakeDatabase(commit_delay=0.01)
    group = GroupCommit(db.begin, finish_marks)
    names = [f"w{i}" for i in range(40)]
    results = concurrently(group.submit, [writing(n) for n in names])
    assert results == [("value", n.upper()) for n in names]
    assert sorted(w for w in db.writes() if isinstance(w, str)) == sorted(names)  # each written once
    assert group.submitted == 40 and group.batches < 40  # some shared a transaction
    for tx in db.committed:  # finish ran once per transaction, after its work, with its values in order
        work, marks = tx[:-1], tx[-1]
        assert marks == ("finish", tuple(w.upper() for w in work))


def test_a_refusal_is_its_own_and_the_rest_commit_without_it():
    db = FakeDatabase(commit_delay=0.01)
    group = GroupCommit(db.begin, finish_marks)

    def refused(tx: list) -> str:
        tx.append("refused-write")  # written before refusing: must not be committed
        raise Conflict("already decided")

    works = [writing(f"w{i}") for i in range(20)]
    works[7] = refused
    results = concurrently(group.submit, works)
    assert results[7][0] == "error" and isinstance(results[7][1], Conflict)
    assert all(r == ("value", f"W{i}") for i, r in enumerate(results) if i != 7)
    assert "refused-write" not in db.writes()
    assert sorted(w for w in db.writes() if isinstance(w, str)) == sorted(f"w{i}" for i in range(20) if i != 7)


def test_a_database_failure_is_retried_alone_so_it_stays_with_its_cause():
    db = FakeDatabase(commit_delay=0.01, fail_commits_with={"poison"})
    group = GroupCommit(db.begin, finish_marks)
    works = [writing(f"w{i}") for i in range(12)] + [writing("poison")]
    results = concurrently(group.submit, works)
    assert all(r[0] == "value" for r in results)  # alone, "poison" commits too (only the mix failed)
    assert sorted(w for w in db.writes() if isinstance(w, str)) == sorted([f"w{i}" for i in range(12)] + ["poison"])


def test_a_failure_alone_reaches_only_its_submitter():
    db = FakeDatabase()
    group = GroupCommit(db.begin, finish_marks)

    def broken(tx: list) -> str:
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        group.submit(broken)
    assert group.submit(writing("next")) == "NEXT"  # the lead was passed on: nothing is stuck
    assert db.committed == [["next", ("finish", ("NEXT",))]]


def test_a_batch_never_exceeds_the_limit():
    db = FakeDatabase(commit_delay=0.02)
    group = GroupCommit(db.begin, finish_marks, limit=3)
    concurrently(group.submit, [writing(f"w{i}") for i in range(30)])
    assert max(len(tx) - 1 for tx in db.committed) <= 3
    assert len(db.writes()) == 30 + len(db.committed)
