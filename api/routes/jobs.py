"""Jobs: mapping runs in the background, one at a time, with progress a client polls. A job is a row of the
`runs` table, so its state survives the request that started it and is visible to every worker."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from fastapi import APIRouter, Request
from sqlalchemy import select, update

from api.deps import AdminIn, ContextDep, ViewerIn
from api.schemas import JobCreate, JobPublic
from rag.context import Context
from rag.errors import NotFound
from rag.models import utcnow
from rag.store import RunRow

router = APIRouter(prefix="/api/workspaces/{workspace}/jobs", tags=["jobs"])
OPEN = ("queued", "running")


class MappingJobs:
    """Runs `propose` + `save_run` on a worker thread; heavy work (uploads, mapping) takes `heavy_work` so it
    never runs twice at once."""

    def __init__(self, ctx: Context, heavy_work: threading.Lock) -> None:
        self.ctx, self.heavy_work = ctx, heavy_work
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ctrlmap-job")
        with ctx.store.session(write=True) as s:  # a job cannot outlive the process that ran it
            s.execute(update(RunRow).where(RunRow.status.in_(OPEN))
                      .values(status="interrupted", message="the server stopped before the job finished"))

    def submit(self, workspace: str, frameworks: list[str], actor: str) -> JobPublic:
        job_id = uuid.uuid4().hex[:16]
        with self.ctx.store.session(write=True) as s:
            s.add(RunRow(id=job_id, workspace=workspace, kind="mapping", status="queued", progress=0.0,
                         message="waiting for a worker", params={"frameworks": frameworks, "actor": actor}))
        self.pool.submit(self._run, job_id, workspace, frameworks, actor)
        return self.get(workspace, job_id)

    def get(self, workspace: str, job_id: str) -> JobPublic:
        with self.ctx.store.session() as s:
            row = s.scalar(select(RunRow).where(RunRow.id == job_id, RunRow.workspace == workspace))
            if row is None:
                raise NotFound(f"no job {job_id[:40]} in workspace {workspace}", target=f"job:{job_id[:40]}")
            return JobPublic.model_validate(row)

    def list(self, workspace: str, limit: int = 50) -> list[JobPublic]:
        with self.ctx.store.session() as s:
            rows = s.scalars(select(RunRow).where(RunRow.workspace == workspace)
                             .order_by(RunRow.started_at.desc()).limit(limit))
            return [JobPublic.model_validate(r) for r in rows]

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, job_id: str, workspace: str, frameworks: list[str], actor: str) -> None:
        from rag.workflows import run_mapping

        try:
            with self.heavy_work:
                self._set(job_id, status="running", message="retrieving candidates")
                outcome = run_mapping(self.ctx, workspace, frameworks, actor, progress=self._reporter(job_id))
            self._set(job_id, status="done", progress=1.0, finished_at=utcnow(),
                      stats={**outcome.run.stats, "mapping_run": outcome.run.run_id, "saved": outcome.saved.__dict__,
                             "gaps": sum(f.gaps for f in outcome.coverage.frameworks)},
                      message=outcome.summary())
        except Exception as exc:  # a failed job is reported through its row, never lost
            self._set(job_id, status="failed", finished_at=utcnow(), message=f"{type(exc).__name__}: {exc}"[:1000])

    def _reporter(self, job_id: str):
        last = {"at": 0.0, "stage": None}
        spans = {"retrieve": (0.0, 0.6)}

        def report(stage: str, done: int, total: int) -> None:
            now = time.monotonic()
            if stage == last["stage"] and now - last["at"] < 0.5 and done < total:
                return
            last.update(at=now, stage=stage)
            lo, hi = spans.get(stage, (0.6, 0.95))
            self._set(job_id, progress=round(lo + (hi - lo) * (done / total if total else 0.0), 3),
                      message=f"{stage} {done}/{total}")

        return report

    def _set(self, job_id: str, **values) -> None:
        with self.ctx.store.session(write=True) as s:
            s.execute(update(RunRow).where(RunRow.id == job_id).values(**values))


def jobs_of(request: Request) -> MappingJobs:
    return request.app.state.jobs


@router.post("", response_model=JobPublic, status_code=202)
def start_job(body: JobCreate, access: AdminIn, ctx: ContextDep, request: Request) -> JobPublic:
    """Start a mapping run for the chosen frameworks; poll the job for progress. Role: admin."""
    keys = body.frameworks or ctx.catalog.primary()
    unknown = [k for k in keys if not ctx.catalog.known(k)]
    if unknown:
        raise NotFound(f"no framework {unknown[0]!r}")
    keys = ctx.catalog.keys(keys)  # aliases (soc2, iso27001, ...) to keys
    return jobs_of(request).submit(access.workspace, keys, access.actor)


@router.get("", response_model=list[JobPublic])
def list_jobs(access: ViewerIn, request: Request) -> list[JobPublic]:
    """The workspace's jobs, newest first. Role: viewer."""
    return jobs_of(request).list(access.workspace)


@router.get("/{job_id}", response_model=JobPublic)
def get_job(job_id: str, access: ViewerIn, request: Request) -> JobPublic:
    """One job's status and progress (0 to 1). Role: viewer."""
    return jobs_of(request).get(access.workspace, job_id)
