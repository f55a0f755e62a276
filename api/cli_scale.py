"""CLI verbs for running ctrlmap in several processes: `ctrlmap worker` runs queued jobs; `ctrlmap jobs` queues
and lists them. `ctrlmap serve --workers N` starts N workers beside the API (`spawn_workers`), and
`--processes N` runs N API processes on one port (`serve_in_processes`)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import typer

from api.console import STATE, actor, console, context, emit_json, handle_errors, table

jobs_app = typer.Typer(help="Background jobs (mapping runs, folder ingests) run by `ctrlmap worker`.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.add_typer(jobs_app, name="jobs")


@handle_errors
def worker() -> None:
    """Run queued jobs until stopped (SIGTERM or Ctrl-C). Any number of workers may share the database; a job
    whose worker dies is taken over by another once its lease expires."""
    from rag import jobs
    from rag.index import require_shared_index

    ctx = context()
    require_shared_index(ctx.settings)
    w = jobs.Worker(ctx)
    signal.signal(signal.SIGTERM, lambda *_: w.stop.set())
    console.print(f"worker {w.name} polling {ctx.settings.describe()['database']}")
    try:
        w.run()
    except KeyboardInterrupt:
        w.stop.set()
    finally:
        ctx.close()


def app_from_environment():
    """The API app of one `ctrlmap serve --processes N` process (uvicorn imports it in each): settings from
    the environment `serve_in_processes` set, job workers as the parent was told."""
    import os

    from api.app import create_app
    from rag.context import Context
    from rag.settings import Settings

    from api.processes import server_checkpoint_seconds, tune_for_serving

    tune_for_serving()
    catalogs = [Path(p) for p in os.environ.get("CTRLMAP_SERVE_CATALOGS", "").split(os.pathsep) if p]
    settings = Settings.load()
    return create_app(ctx=Context(settings, catalog_overlays=catalogs),
                      worker=os.environ.get("CTRLMAP_SERVE_WORKER_THREAD") == "1",
                      checkpoint_seconds=server_checkpoint_seconds(settings))


def serve_in_processes(processes: int, worker_thread: bool, **uvicorn_options) -> None:
    """Run `processes` API processes on one port, with this command's global options: each with its own
    socket where the system allows it (`api.processes`), else uvicorn's workers on one shared socket."""
    import os

    import uvicorn

    from api import processes as api_processes

    os.environ.update({"CTRLMAP_SERVE_WORKER_THREAD": "1" if worker_thread else "0",
                       "CTRLMAP_SERVE_CATALOGS": os.pathsep.join(str(c.resolve()) for c in STATE.catalogs)})
    if STATE.preset:
        os.environ["CTRLMAP_PRESET"] = STATE.preset
    if STATE.data_dir:
        os.environ["CTRLMAP_DATA_DIR"] = str(STATE.data_dir.resolve())
    if STATE.workspace:
        os.environ["CTRLMAP_WORKSPACE"] = STATE.workspace
    if api_processes.balanced():
        api_processes.supervise(processes, uvicorn_options["host"], uvicorn_options["port"],
                                uvicorn_options.get("log_level", "info"))
    else:
        uvicorn.run(api_processes.APP, factory=True, workers=processes, **uvicorn_options)


def spawn_workers(n: int) -> list[subprocess.Popen]:
    """N `ctrlmap worker` processes with this command's global options (and environment)."""
    args = [sys.executable, "-m", "api.cli"]
    if STATE.preset:
        args += ["--preset", STATE.preset]
    if STATE.data_dir:
        args += ["--data-dir", str(STATE.data_dir)]
    for catalog in STATE.catalogs:
        args += ["--catalog", str(catalog)]
    return [subprocess.Popen([*args, "worker"], preexec_fn=_stop_with_parent) for _ in range(n)]


def _stop_with_parent() -> None:
    """In a spawned worker, before it starts: have the kernel send it SIGTERM when the `serve` that started it
    ends, however that ends. uvicorn re-raises the SIGTERM it handled once it has shut down, so `serve`'s own
    clean-up never ran and its workers outlived it, polling on. Linux only (elsewhere `serve` stops them)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@jobs_app.command("map")
@handle_errors
def jobs_map(framework: list[str] = typer.Option([], "--framework", "-f", help="Framework key (repeatable)."),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Queue a mapping run of the workspace (the four primary frameworks by default)."""
    from rag import jobs

    ctx = context()
    keys = framework or ctx.catalog.primary()
    for key in keys:
        ctx.catalog.framework(key)  # an unknown key is an error naming the known ones
    _print_job(jobs.submit(ctx, ctx.workspace(), "mapping", {"frameworks": keys}, actor(None)), as_json)


@jobs_app.command("ingest")
@handle_errors
def jobs_ingest(paths: list[str] = typer.Argument(..., help="Files, folders or globs the workers can read."),
                then_map: bool = typer.Option(False, "--map", help="Queue a mapping run (the four primary "
                                              "frameworks) once the ingest is done."),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Queue the ingest of files or folders (read by the worker, so they must be visible to it)."""
    from rag import jobs

    ctx = context()
    workspace = ctx.workspace(create=True)
    params = {"paths": [str(Path(p).resolve()) for p in paths]}
    if then_map:
        params["map_after"] = ctx.catalog.primary()
    _print_job(jobs.submit(ctx, workspace, "ingest", params, actor(None)), as_json)


@jobs_app.command("list")
@handle_errors
def jobs_list(as_json: bool = typer.Option(False, "--json"), limit: int = typer.Option(50)) -> None:
    """The workspace's jobs, newest first."""
    from rag import jobs

    ctx = context()
    rows = [j.__dict__ for j in jobs.list_jobs(ctx, ctx.workspace(), limit)]
    emit_json(rows) if as_json else console.print(table("jobs", rows, ["id", "kind", "status", "progress",
                                                                      "attempts", "worker", "message"]))


@jobs_app.command("show")
@handle_errors
def jobs_show(job_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """One job's status, progress and outcome."""
    from rag import jobs

    ctx = context()
    _print_job(jobs.get(ctx, ctx.workspace(), job_id), as_json)


def _print_job(job, as_json: bool) -> None:
    if as_json:
        emit_json(job.__dict__)
    else:
        console.print(f"job {job.id} ({job.kind}) {job.status} {job.progress:.0%}: {job.message}")
