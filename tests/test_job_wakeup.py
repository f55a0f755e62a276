"""Idle job workers are woken by a queued job (rag/job_wakeup.py) instead of polling the queue twice a second:
in their own process at once, and on PostgreSQL from any process through a notification."""

from __future__ import annotations

import threading
import time

import pytest

from rag import job_wakeup, jobs
from rag.context import Context
from rag.settings import Settings
from tests.waiting import eventually

SLOW = {"job_poll_s": 30.0, "job_idle_poll_s": 30.0}  # a worker that polled would not look again in the test


def _taken(ctx: Context, job: jobs.Job) -> bool:
    return jobs.get(ctx, job.workspace, job.id).status != "queued"


@pytest.fixture
def idle_worker():
    started = []

    def start(ctx: Context) -> jobs.Worker:
        worker = jobs.start_thread(ctx)
        started.append(worker)
        time.sleep(0.3)  # it has looked once, found nothing, and waits
        return worker

    yield start
    for worker in started:
        worker.stop.set()


def test_a_job_queued_in_this_process_wakes_its_idle_worker(backend, idle_worker):
    data, url = backend
    ctx = Context(Settings.load("offline", data_dir=data, database_url=url, **SLOW))
    ctx.workspace("acme", create=True)
    idle_worker(ctx)
    job = jobs.submit(ctx, "acme", "mapping", {"frameworks": ["soc2"]}, "tester")
    assert eventually(lambda: _taken(ctx, job), 10.0), "the worker slept through a job queued beside it"
    ctx.close()


def test_a_job_queued_in_another_process_wakes_an_idle_worker(pg_url, tmp_path, idle_worker):
    settings = Settings.load("offline", data_dir=tmp_path / "data", database_url=pg_url, **SLOW)
    worker_side, api_side = Context(settings), Context(settings)  # two processes sharing one database
    api_side.workspace("acme", create=True)
    idle_worker(worker_side)
    assert eventually(lambda: job_wakeup.of(worker_side.store).live, 10.0), "the job listener did not connect"
    job = jobs.submit(api_side, "acme", "mapping", {"frameworks": ["soc2"]}, "tester")
    assert eventually(lambda: _taken(api_side, job), 10.0), "the notification did not wake the other process's worker"
    worker_side.close()
    api_side.close()


def test_without_a_listener_an_idle_worker_keeps_the_short_poll():
    wakeup, stop = job_wakeup.Wakeup(None), threading.Event()  # SQLite, or a listener that lost its connection
    started = time.monotonic()
    wakeup.wait(stop, poll_s=0.1, idle_poll_s=30.0)
    assert time.monotonic() - started < 2.0
    wakeup.live = True  # while notifications are heard, only a ring, `stop` or the long poll ends the wait
    threading.Timer(0.3, wakeup.ring).start()
    started = time.monotonic()
    wakeup.wait(stop, poll_s=0.1, idle_poll_s=30.0)
    assert 0.25 < time.monotonic() - started < 2.0 and wakeup.rung.is_set()
