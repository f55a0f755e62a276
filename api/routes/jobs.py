"""Jobs: mapping runs in the background, with progress a client polls. The queue, leases and progress belong
to `rag.jobs`; any worker process sharing the database runs the job."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AdminIn, ContextDep, ViewerIn
from api.schemas import JobCreate, JobPublic
from rag import jobs
from rag.errors import NotFound

router = APIRouter(prefix="/api/workspaces/{workspace}/jobs", tags=["jobs"])


@router.post("", response_model=JobPublic, status_code=202)
def start_job(body: JobCreate, access: AdminIn, ctx: ContextDep) -> JobPublic:
    """Queue a mapping run for the chosen frameworks; poll the job for progress. Role: admin."""
    keys = body.frameworks or ctx.catalog.primary()
    unknown = [k for k in keys if not ctx.catalog.known(k)]
    if unknown:
        raise NotFound(f"no framework {unknown[0]!r}")
    keys = ctx.catalog.keys(keys)  # aliases (soc2, iso27001, ...) to keys
    return JobPublic.model_validate(jobs.submit(ctx, access.workspace, "mapping", {"frameworks": keys}, access.actor))


@router.get("", response_model=list[JobPublic])
def list_jobs(access: ViewerIn, ctx: ContextDep) -> list[JobPublic]:
    """The workspace's jobs, newest first. Role: viewer."""
    return [JobPublic.model_validate(j) for j in jobs.list_jobs(ctx, access.workspace)]


@router.get("/{job_id}", response_model=JobPublic)
def get_job(job_id: str, access: ViewerIn, ctx: ContextDep) -> JobPublic:
    """One job's status and progress (0 to 1). Role: viewer."""
    return JobPublic.model_validate(jobs.get(ctx, access.workspace, job_id))
