"""Load: many reviewers deciding at once against one `ctrlmap serve` on the loopback interface.

`python -m evals.bench.load` seeds a fresh data directory (the sample organization's policies, mapped, in
several workspaces), starts the service on 127.0.0.1, and lets 50 concurrent reviewers (each with its own
workspace-bound key) make 2,000 decisions in total: each opens a proposal as the review page does, then
approves, rejects or edits it. It prints throughput and latency percentiles, then checks that every decision
the service confirmed is in the store with its audit event and that the whole audit chain verifies.
It runs once on SQLite and once on a fresh PostgreSQL database (`--database`, default both; PostgreSQL at
`--pg-url`, skipped when it does not answer) and prints the two side by side.
Bounded and local: a fixed number of requests, each with a timeout, to 127.0.0.1 only. Not a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import uuid
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from evals.bench.procs import HOST, free_port, start_chroma
from evals.bench.wire import TRANSPORT_ERRORS, Connection
from rag import audit
from rag.auth import Role, create_key
from rag.context import Context
from rag.ingest.pipeline import ingest_paths
from rag.mapping import propose
from rag.models import Status
from rag.review import list_proposals, save_run
from rag.samples import sample_dir
from rag.settings import Settings
from rag.review import decisions_commented

ACTIONS = [("approve", 0.6), ("reject", 0.25), ("edit", 0.15)]


@dataclass
class Reviewer:
    workspace: str
    key: str
    queue: list[int]


@dataclass
class Outcome:
    decisions: list[tuple[str, int, str, int]] = field(default_factory=list)  # workspace, proposal, action, status
    decide_ms: list[float] = field(default_factory=list)
    read_ms: list[float] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    generator_cpu: float = 0.0  # CPU seconds the load generator itself used while the reviewers ran
    server_cpu: float = 0.0  # ... the API processes used
    database_cpu: float = 0.0  # ... the PostgreSQL server's processes used (SQLite runs inside the API)


def seed(ctx: Context, workspaces: int) -> dict[str, list[int]]:
    """The sample organization, ingested and mapped in each workspace; returns the proposals awaiting review."""
    queues = {}
    with sample_dir() as sample:
        for i in range(workspaces):
            ws = ctx.workspace(f"entity-{i + 1}", create=True)
            ingest_paths(ctx, ws, [str(sample / "policies")])
            save_run(ctx, ws, propose(ctx, ws, ctx.catalog.primary()))
            queues[ws] = [p.id for p in list_proposals(ctx, ws, status=Status.proposed.value, limit=10**6)]
    return queues


def assign(ctx: Context, queues: dict[str, list[int]], reviewers: int, decisions: int) -> list[Reviewer]:
    """Reviewer i works in workspace i mod N with its own key; queues are disjoint slices of the proposals,
    and the decisions are split evenly over the reviewers."""
    names = list(queues)
    base, extra = divmod(decisions, reviewers)
    team = {ws: [i for i in range(reviewers) if i % len(names) == n] for n, ws in enumerate(names)}
    out = []
    for ws, members in team.items():
        ids = queues[ws]
        random.Random(ws).shuffle(ids)
        for slot, i in enumerate(members):
            key, _ = create_key(ctx, Role.reviewer, ws, name=f"reviewer {slot + 1} of {ws}")
            quota = base + (i < extra)
            queue = ids[slot::len(members)][:quota]
            if len(queue) < quota:
                raise SystemExit(f"{ws} has too few proposals for {len(members)} reviewers; add workspaces")
            out.append(Reviewer(ws, key, queue))
    return out


def start_server(data_dir: Path, port: int, env: dict[str, str], processes: int = 1) -> subprocess.Popen:
    command = [sys.executable, "-m", "api.cli", "--data-dir", str(data_dir), "serve", "--host", HOST,
               "--port", str(port), "--log-level", "warning", "--processes", str(processes)]
    log = (data_dir.parent / "server.log").open("wb")  # a file, not a pipe: a full pipe would stall the server
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, **env})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{HOST}:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"the server did not start: {server_log(data_dir)}")


def server_log(data_dir: Path, tail: int = 2000) -> str:
    path = data_dir.parent / "server.log"
    return path.read_text(errors="replace")[-tail:] if path.exists() else ""


async def review(client: Connection, reviewer: Reviewer, outcome: Outcome, seed_value: int) -> None:
    rng = random.Random(seed_value)
    headers = {"Authorization": f"Bearer {reviewer.key}"}
    base = f"/api/workspaces/{reviewer.workspace}/proposals"
    for pid in reviewer.queue:
        started = time.perf_counter()
        read = await client.request("GET", f"{base}/{pid}", headers)
        outcome.read_ms.append(1000 * (time.perf_counter() - started))
        if read.status_code != 200:
            outcome.failures[f"read {read.status_code}"] += 1
        action = rng.choices([a for a, _ in ACTIONS], [w for _, w in ACTIONS])[0]
        body = {"comment": f"load test: {action}"} | ({"coverage": "full"} if action == "edit" else {})
        started = time.perf_counter()
        response = await client.request("POST", f"{base}/{pid}/{action}", headers, body)
        outcome.decide_ms.append(1000 * (time.perf_counter() - started))
        outcome.decisions.append((reviewer.workspace, pid, action, response.status_code))
        if response.status_code != 200:
            outcome.failures[f"{action} {response.status_code}: {response.text[:120]}"] += 1


async def run_reviewers(ports: int | list[int], reviewers: list[Reviewer]) -> tuple[Outcome, float]:
    """All reviewers at once, each on a connection of its own (as each person's browser would be); with several
    ports (API processes), reviewer i talks to port i mod N. Records the CPU time this generator itself used
    (it shares the machine with the servers and the database; hence the lean client of `evals.bench.wire`)."""
    ports = [ports] if isinstance(ports, int) else ports
    outcome = Outcome()
    clients = [Connection(HOST, ports[i % len(ports)]) for i in range(len(reviewers))]
    try:
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(review(clients[i], r, outcome, i) for i, r in enumerate(reviewers)))
        outcome.generator_cpu = time.process_time() - cpu
        return outcome, time.perf_counter() - started
    finally:
        for client in clients:
            await client.close()


def cpu_seconds(root_pid: int | None = None, name: str | None = None) -> float:
    """CPU seconds used so far by a process and its live descendants, or by every process called `name`."""
    procs = []
    try:
        if root_pid is not None:
            root = psutil.Process(root_pid)
            procs = [root, *root.children(recursive=True)]
        else:
            procs = [p for p in psutil.process_iter(["name"]) if p.info["name"] == name]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


def check_store(ctx: Context, outcome: Outcome) -> list[str]:
    """Every confirmed decision is a decision row and a `proposal.<action>` audit event; the chain verifies."""
    problems = []
    confirmed = Counter((ws, pid, action) for ws, pid, action, status in outcome.decisions if status == 200)
    rows, events = decisions_commented(ctx, "load test:")
    stored = Counter(rows)
    chain = audit.verify_store(ctx)
    if stored != confirmed:
        problems.append(f"decisions confirmed {sum(confirmed.values())}, stored {sum(stored.values())}, "
                        f"differing: {len(set(stored.items()) ^ set(confirmed.items()))}")
    if events != sum(confirmed.values()):
        problems.append(f"{events} audit events for {sum(confirmed.values())} decisions")
    if not chain.ok:
        problems.append(f"audit chain broken at event {chain.first_bad}: {chain.problem}")
    print(f"store check   : {sum(stored.values())} decisions stored for {sum(confirmed.values())} confirmed; "
          f"{events} matching audit events; audit chain {'verifies' if chain.ok else 'BROKEN'} "
          f"({chain.events} events)")
    return problems


def figures(outcome: Outcome, wall: float, reviewers: int) -> dict[str, str]:
    n = len(outcome.decide_ms)
    mix = ", ".join(f"{count} {action}" for action, count in Counter(a for _, _, a, _ in outcome.decisions).items())
    out = {"reviewers": f"{reviewers} concurrent, {n} decisions",
           "mix": mix,
           "wall time": f"{wall:.1f} s",
           "decisions/s": f"{n / wall:.1f}",
           "requests/s": f"{(n + len(outcome.read_ms)) / wall:.1f}",
           "generator CPU": (f"{outcome.generator_cpu:.1f} s of {(os.cpu_count() or 1) * wall:.0f} core-s "
                             "on this machine")}
    if outcome.server_cpu:  # measured by the load script (not by `bench scale`, whose servers also run jobs)
        out["CPU per decision"] = (f"API {1000 * outcome.server_cpu / max(n, 1):.1f} ms, database "
                                   f"{1000 * outcome.database_cpu / max(n, 1):.1f} ms (open + decide)")
    for label, values in (("decide", outcome.decide_ms), ("open", outcome.read_ms)):
        out[f"{label} p50 / p95 / p99"] = (f"{percentile(values, .5):.0f} / {percentile(values, .95):.0f} / "
                                           f"{percentile(values, .99):.0f} ms")
    out["errors"] = str(sum(outcome.failures.values()))
    return out


def side_by_side(results: dict[str, dict[str, str]]) -> None:
    names = list(results)
    rows = list(dict.fromkeys(k for r in results.values() for k in r))
    width = max(map(len, rows)) + 2
    cols = [max(len(n), *(len(r.get(k, "")) for k in rows)) + 2 for n, r in results.items()]
    print("".ljust(width) + "".join(n.ljust(c) for n, c in zip(names, cols)))
    for k in rows:
        print(k.ljust(width) + "".join(results[n].get(k, "").ljust(c) for n, c in zip(names, cols)))


def postgres_database(admin_url: str) -> tuple[str, callable] | None:
    """A fresh PostgreSQL database and the function that drops it, or None when the server does not answer."""
    try:
        import psycopg

        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - not installed or not running: that column is skipped
        print(f"PostgreSQL skipped: {type(exc).__name__}: {str(exc)[:120]}")
        return None
    name = f"ctrlmap_load_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE DATABASE {name}")
    host = admin_url.split("://", 1)[1].rsplit("/", 1)[0]

    def drop():
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()

    return f"postgresql+psycopg://{host}/{name}", drop


def run_once(args, database_url: str | None) -> tuple[dict[str, str], list[str]]:
    """One run; SQLite is the embedded setup (one API process), PostgreSQL gets `--processes` of them."""
    processes = args.processes if database_url else 1
    with tempfile.TemporaryDirectory(prefix="ctrlmap-load-") as tmp:
        data_dir = Path(tmp) / "data"
        chroma, chroma_url = start_chroma(Path(tmp) / "chroma") if processes > 1 else (None, None)
        env = {k: v for k, v in (("CTRLMAP_DATABASE_URL", database_url), ("CTRLMAP_CHROMA_URL", chroma_url)) if v}
        ctx = Context(Settings.load("offline", data_dir=data_dir, database_url=database_url, chroma_url=chroma_url))
        started = time.perf_counter()
        queues = seed(ctx, args.workspaces)
        reviewers = assign(ctx, queues, args.reviewers, args.decisions)
        print(f"seeded        : {args.workspaces} workspaces, {sum(map(len, queues.values()))} proposals awaiting "
              f"review, in {time.perf_counter() - started:.1f} s")
        port = free_port()
        server = start_server(data_dir, port, env, processes)
        try:
            before = cpu_seconds(server.pid), cpu_seconds(name="postgres")
            outcome, wall = asyncio.run(run_reviewers(port, reviewers))
            outcome.server_cpu = cpu_seconds(server.pid) - before[0]
            outcome.database_cpu = cpu_seconds(name="postgres") - before[1] if database_url else 0.0
        except TRANSPORT_ERRORS as exc:
            raise SystemExit(f"the load run failed ({type(exc).__name__}: {exc}); the server said:\n"
                             f"{server_log(data_dir)}")
        finally:
            server.terminate()
            server.wait(30)
            if chroma:
                chroma.terminate()
        result = {"API processes": str(processes), **figures(outcome, wall, len(reviewers))}
        problems = check_store(ctx, outcome) + ([f"{sum(outcome.failures.values())} failed requests"]
                                                 if outcome.failures else [])
        for what, count in outcome.failures.most_common(5):
            print(f"  {count} x {what}")
        result["store and audit chain"] = "FAIL" if problems else "verified"
        ctx.close()
    return result, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reviewers", type=int, default=50)
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--workspaces", type=int, default=10, help="entities, each with the sample policies")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL database to connect to while creating a fresh one for the run")
    parser.add_argument("--processes", type=int, default=2,
                        help="API processes on PostgreSQL (`ctrlmap serve --processes`); SQLite runs one")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)  # per-request client logs would drown the report
    results, problems = {}, []
    if args.database in ("sqlite", "both"):
        print("--- SQLite")
        results["SQLite"], found = run_once(args, None)
        problems += [f"SQLite: {p}" for p in found]
    if args.database in ("postgresql", "both") and (pg := postgres_database(args.pg_url)):
        url, drop = pg
        print("--- PostgreSQL")
        try:
            results["PostgreSQL"], found = run_once(args, url)
            problems += [f"PostgreSQL: {p}" for p in found]
        finally:
            drop()
    side_by_side(results)
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
