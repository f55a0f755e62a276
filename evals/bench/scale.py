"""`ctrlmap bench scale`: several processes on one PostgreSQL database and one Chroma server, under load.

Starts a Chroma server and two `ctrlmap serve --workers 1` (two API processes, two worker processes) on
127.0.0.1 against a fresh PostgreSQL database; seeds a few review workspaces (the sample organization,
mapped); then queues, for each of W workspaces, the ingest of D generated documents followed by a mapping run
(all four frameworks), while 50 reviewers decide through both API processes. Prints ingest and mapping
throughput, decision throughput and latency, peak RSS per process, and checks at the end that every job
finished, every document is stored, each workspace's vector index agrees with the store, and the audit chain
verifies. Figures, not a test; bounded and local (127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from evals.bench.load import assign, check_store, figures, postgres_database, run_reviewers, seed, side_by_side
from evals.bench.mapping import build_corpus
from evals.bench.procs import HOST, Sampler, free_port, start_chroma, wait_http
from rag import jobs
from rag.context import Context
from rag.corpus import document_count, index_agreement
from rag.settings import Settings


class RssSampler(Sampler):
    """Peak RSS of each process of the run, and of the largest of each kind of process each one started (its
    job worker, its parser sandboxes)."""

    def __init__(self, processes: dict[str, subprocess.Popen]) -> None:
        self.processes, self.peak = processes, {}

    def sample(self) -> None:
        for label, popen in self.processes.items():
            try:
                parent = psutil.Process(popen.pid)
                family = [(label, parent)] + [(f"{label} {kind}", c) for c in parent.children(recursive=True)
                                              if (kind := _kind(c))]
            except psutil.Error:
                continue
            for name, proc in family:  # several processes of one kind: the largest of them
                try:
                    self.peak[name] = max(self.peak.get(name, 0), proc.memory_info().rss)
                except psutil.Error:  # it ended meanwhile
                    continue


def _kind(proc: psutil.Process) -> str | None:
    """What a child of `serve --workers 1` is: its job worker, or a parser sandbox (`rag.ingest.worker`); None
    for one that has already ended."""
    try:
        command = " ".join(proc.cmdline())
    except psutil.Error:
        return None
    return "parser sandbox" if "rag.ingest.worker" in command else "job worker" if "worker" in command else "other"


def start_api(data_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "--data-dir", str(data_dir), "serve", "--host", HOST,
                                "--port", str(port), "--workers", "1", "--log-level", "warning"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env})
    wait_http(f"http://{HOST}:{port}/health", process, timeout=120)
    return process, port


def wait_for_jobs(ctx: Context, workspaces: list[str], timeout: float) -> dict[str, int]:
    """Until every job of the workspaces is finished (mapping jobs are queued by their ingest job)."""
    deadline = time.monotonic() + timeout
    while True:
        states = [j.status for ws in workspaces for j in jobs.list_jobs(ctx, ws, limit=1000)]
        counts = {s: states.count(s) for s in set(states)}
        mapped = sum(j.kind == "mapping" and j.status == "done" for ws in workspaces
                     for j in jobs.list_jobs(ctx, ws, limit=1000))
        if not (counts.get("queued") or counts.get("running")) and mapped >= len(workspaces):
            return counts
        if time.monotonic() > deadline or counts.get("failed"):
            return counts
        time.sleep(2)


def run(args) -> int:
    logging.disable(logging.INFO)
    pg = postgres_database(args.pg_url)
    if pg is None:
        print("bench scale needs PostgreSQL (--pg-url)")
        return 2
    url, drop = pg
    servers: list[subprocess.Popen] = []
    chroma = None
    try:
        with tempfile.TemporaryDirectory(prefix="ctrlmap-scale-") as tmp:
            folder = Path(tmp)
            chroma, chroma_url = start_chroma(folder / "chroma")
            env = {"CTRLMAP_DATABASE_URL": url, "CTRLMAP_CHROMA_URL": chroma_url, "CTRLMAP_PRESET": "offline"}
            ctx = Context(Settings.load("offline", data_dir=folder / "data", database_url=url, chroma_url=chroma_url))
            started = time.perf_counter()
            queues = seed(ctx, args.review_workspaces)
            reviewers = assign(ctx, queues, args.reviewers, args.decisions)
            print(f"seeded {args.review_workspaces} review workspaces in {time.perf_counter() - started:.0f} s")
            for w in range(args.workspaces):
                build_corpus(folder / "corpora" / f"org-{w + 1:02d}", args.documents, seed=w)
            ports = []
            for _ in range(2):
                process, port = start_api(folder / "data", env)
                servers.append(process)
                ports.append(port)
            names = [ctx.workspace(f"org-{w + 1:02d}", create=True) for w in range(args.workspaces)]
            labels = {f"api {i + 1}": p for i, p in enumerate(servers)} | {"chroma": chroma}
            with RssSampler(labels) as rss:
                started = time.perf_counter()
                for ws in names:
                    jobs.submit(ctx, ws, "ingest", {"paths": [str(folder / "corpora" / ws)],
                                                    "map_after": ctx.catalog.primary()}, "bench")
                outcome, wall = asyncio.run(run_reviewers(ports, reviewers))
                counts = wait_for_jobs(ctx, names, args.timeout)
                jobs_wall = time.perf_counter() - started
            print(f"jobs: {counts} in {jobs_wall:.0f} s")
            result = figures(outcome, wall, len(reviewers))
            problems = check_store(ctx, outcome)
            report_jobs(ctx, names, args, jobs_wall, result)
            problems += check_index_and_documents(ctx, names, args.documents)
            result["store, index, audit chain"] = "FAIL" if problems else "verified"
            side_by_side({"bench scale": result})
            print("peak RSS per process:")
            for label, peak in sorted(rss.peak.items()):
                print(f"  {label:<22} {peak / 2**20:8.0f} MB")
            ctx.close()
    finally:
        for process in servers:
            process.terminate()
            process.wait(30)
        if chroma is not None:
            chroma.terminate()
        drop()
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


def report_jobs(ctx: Context, workspaces: list[str], args, wall: float, result: dict) -> None:
    done = [j for ws in workspaces for j in jobs.list_jobs(ctx, ws, limit=1000) if j.status == "done"]
    durations = {kind: [(j.finished_at - j.started_at).total_seconds() for j in done if j.kind == kind]
                 for kind in ("ingest", "mapping")}
    result["workspaces x documents"] = f"{args.workspaces} x {args.documents}"
    result["documents ingested/s"] = f"{args.workspaces * args.documents / wall:.1f} (all jobs, wall {wall:.0f} s)"
    result["mapping runs done"] = f"{len(durations['mapping'])} of {args.workspaces}"
    result["job attempts > 1"] = str(sum(j.attempts > 1 for j in done))


def check_index_and_documents(ctx: Context, workspaces: list[str], documents: int) -> list[str]:
    problems = []
    for ws in workspaces:
        stored = document_count(ctx, ws)
        missing, extra = index_agreement(ctx, ws)
        if stored != documents:
            problems.append(f"{ws}: {stored} documents stored, {documents} generated")
        if missing or extra:
            problems.append(f"{ws}: index disagrees with the store ({missing} missing, {extra} stale)")
    print(f"index check   : {len(workspaces)} workspaces, {len(problems)} problems")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspaces", type=int, default=20)
    parser.add_argument("--documents", type=int, default=500, help="generated documents per workspace")
    parser.add_argument("--reviewers", type=int, default=50)
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--review-workspaces", type=int, default=None,
                        help="workspaces the reviewers decide in [default: enough for the decisions, at least 5]")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds to wait for the jobs")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)
    # the sample organization gives each workspace ~326 proposals to review; leave room for uneven teams
    args.review_workspaces = args.review_workspaces or max(5, -(-args.decisions // 250))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
