"""Jobs: background work (a mapping run, the ingest of a folder) queued as rows of the `runs` table and run by
workers in any process that shares the database.

A worker claims the oldest queued job by taking a lease on its row (`SELECT ... FOR UPDATE SKIP LOCKED` on
PostgreSQL, so workers never wait on each other's claim; SQLite's write transactions are serialized anyway),
renews the lease while the job runs, and reports progress in the same row. A job whose lease expired (its
worker died or hangs) goes back to any worker, up to `MAX_ATTEMPTS` claims; no process ever marks another
process's job as interrupted. The work itself is a `rag.workflows` function, as for every other face.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy import and_, or_, select, update

from rag import job_wakeup
from rag.context import Context
from rag.errors import InvalidInput, NotFound
from rag.models import utcnow
from rag.store import RunRow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
OPEN = ("queued", "running")
PROGRESS_EVERY_S = 0.5  # progress rows are written at most this often per stage


@dataclass
class Job:
    id: str
    workspace: str
    kind: str
    status: str
    progress: float
    message: str
    params: dict
    stats: dict
    started_at: datetime
    finished_at: datetime | None
    worker: str | None = None
    attempts: int = 0

    @classmethod
    def of(cls, row: RunRow) -> "Job":
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})


# --- the queue ----------------------------------------------------------------------------------------------


def submit(ctx: Context, workspace: str, kind: str, params: dict, actor: str) -> Job:
    """Queue a job; any worker sharing the database runs it."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown job kind {kind!r}; choose one of: {', '.join(KINDS)}")
    job_id = uuid.uuid4().hex[:16]
    with ctx.store.session(write=True) as s:
        s.add(RunRow(id=job_id, workspace=workspace, kind=kind, status="queued", progress=0.0, attempts=0,
                     message="waiting for a worker", params={**params, "actor": actor}))
        job_wakeup.announce(ctx.store, s)
    job_wakeup.ring(ctx.store)
    return get(ctx, workspace, job_id)


def get(ctx: Context, workspace: str, job_id: str) -> Job:
    with ctx.store.session() as s:
        row = s.scalar(select(RunRow).where(RunRow.id == job_id, RunRow.workspace == workspace))
        if row is None:
            raise NotFound(f"no job {job_id[:40]} in workspace {workspace}", target=f"job:{job_id[:40]}")
        return Job.of(row)


def list_jobs(ctx: Context, workspace: str, limit: int = 50) -> list[Job]:
    with ctx.store.session() as s:
        rows = s.scalars(select(RunRow).where(RunRow.workspace == workspace)
                         .order_by(RunRow.started_at.desc()).limit(limit))
        return [Job.of(r) for r in rows]


def claim(ctx: Context, worker: str) -> Job | None:
    """Lease the oldest runnable job (queued, or running under an expired lease) to `worker`."""
    now = time.time()
    claimable = or_(RunRow.status == "queued", and_(RunRow.status == "running", RunRow.lease_until < now))
    while True:
        with ctx.store.session(write=True) as s:
            row = s.scalar(select(RunRow).where(RunRow.kind.in_(KINDS), claimable).order_by(RunRow.started_at)
                           .limit(1).with_for_update(skip_locked=True))
            if row is None:
                return None
            if row.attempts >= MAX_ATTEMPTS:
                row.status, row.finished_at = "failed", utcnow()
                row.message = f"abandoned: its worker stopped {row.attempts} times before it finished"
                continue
            previous = row.worker if row.status == "running" else None
            row.status, row.worker, row.attempts = "running", worker, row.attempts + 1
            row.lease_until = now + ctx.settings.job_lease_s
            row.message = f"taken over from {previous}, whose lease expired" if previous else "started"
            return Job.of(row)


def renew(ctx: Context, job_id: str, worker: str, **values) -> bool:
    """Extend the lease (and set `values`); False when the job is no longer this worker's."""
    with ctx.store.session(write=True) as s:
        done = s.execute(update(RunRow).where(RunRow.id == job_id, RunRow.worker == worker,
                                              RunRow.status == "running")
                         .values(lease_until=time.time() + ctx.settings.job_lease_s, **values))
        return done.rowcount == 1


# --- running one --------------------------------------------------------------------------------------------


def _run_mapping(ctx: Context, job: Job, progress) -> tuple[dict, str]:
    from rag.workflows import run_mapping

    outcome = run_mapping(ctx, job.workspace, job.params["frameworks"], job.params["actor"], progress=progress)
    stats = {**outcome.run.stats, "mapping_run": outcome.run.run_id, "saved": outcome.saved.__dict__,
             "gaps": sum(f.gaps for f in outcome.coverage.frameworks)}
    return stats, outcome.summary()


def _run_ingest(ctx: Context, job: Job, progress) -> tuple[dict, str]:
    from rag.ingest.pipeline import collect
    from rag.workflows import ingest_documents

    files = collect(job.params["paths"])
    done = []

    def each(result) -> None:
        done.append(result)
        progress("ingest", len(done), len(files))

    outcome = ingest_documents(ctx, job.workspace, [], job.params["actor"], progress=each, files=files)
    counts, stats = outcome.counts, {"counts": outcome.counts, "files": len(files)}
    if job.params.get("map_after"):  # mapping waits for the ingest: it is queued only once the ingest is done
        stats["mapping_job"] = submit(ctx, job.workspace, "mapping", {"frameworks": job.params["map_after"]},
                                      job.params["actor"]).id
    return stats, ", ".join(f"{n} {s}" for s, n in counts.items() if n)


KINDS: dict[str, Callable] = {"mapping": _run_mapping, "ingest": _run_ingest}
SPANS = {"retrieve": (0.0, 0.6), "ingest": (0.0, 0.95)}  # share of the bar each stage fills


@dataclass
class Worker:
    """Claims and runs jobs until `stop` is set. A heartbeat thread renews the lease of the running job."""

    ctx: Context
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        log.info("worker %s started", self.name)
        wakeup, settings = job_wakeup.of(self.ctx.store), self.ctx.settings
        while not self.stop.is_set():
            wakeup.rung.clear()  # before looking: a job queued from now on rings again
            try:
                ran = self.run_one()
            except Exception:  # noqa: BLE001 - the database went away for a moment: wait, then poll again
                log.exception("worker %s could not poll the queue", self.name)
                ran = False
            if not ran:
                wakeup.wait(self.stop, settings.job_poll_s, settings.job_idle_poll_s)

    def run_one(self) -> bool:
        job = claim(self.ctx, self.name)
        if job is None:
            return False
        beat = threading.Event()
        heart = threading.Thread(target=self._heartbeat, args=(job.id, beat), daemon=True)
        heart.start()
        try:
            stats, message = KINDS[job.kind](self.ctx, job, self._reporter(job.id))
            renew(self.ctx, job.id, self.name, status="done", progress=1.0, finished_at=utcnow(), stats=stats,
                  message=message)
        except Exception as exc:  # noqa: BLE001 - a failed job is reported through its row, never lost
            log.exception("job %s failed", job.id)
            renew(self.ctx, job.id, self.name, status="failed", finished_at=utcnow(),
                  message=f"{type(exc).__name__}: {exc}"[:1000])
        finally:
            beat.set()
            heart.join()
        return True

    def _heartbeat(self, job_id: str, beat: threading.Event) -> None:
        while not beat.wait(self.ctx.settings.job_lease_s / 3):
            try:
                if not renew(self.ctx, job_id, self.name):
                    log.warning("worker %s lost the lease on job %s", self.name, job_id)
                    return
            except Exception:  # noqa: BLE001 - try again next beat; the lease outlasts a few misses
                log.exception("lease renewal of job %s failed", job_id)

    def _reporter(self, job_id: str):
        last = {"at": 0.0, "stage": None}

        def report(stage: str, done: int, total: int) -> None:
            now = time.monotonic()
            if stage == last["stage"] and now - last["at"] < PROGRESS_EVERY_S and done < total:
                return
            last.update(at=now, stage=stage)
            lo, hi = SPANS.get(stage, (0.6, 0.95))
            renew(self.ctx, job_id, self.name, message=f"{stage} {done}/{total}",
                  progress=round(lo + (hi - lo) * (done / total if total else 0.0), 3))

        return report


def start_thread(ctx: Context) -> Worker:
    """A worker on a daemon thread of this process (the single-process, embedded setup)."""
    worker = Worker(ctx)
    threading.Thread(target=worker.run, name="ctrlmap-worker", daemon=True).start()
    return worker
