"""Fuzz replay: a generated corpus of hostile uploads against a running `ctrlmap serve` on 127.0.0.1.

`python -m evals.bench.fuzz [--count 300] [--seconds 600] [--seed 7] [--clients 4]` seeds a fresh data
directory with a workspace and an admin key, starts the service, and replays a corpus generated from
rag.ingest.specimens: DOCX, PDF, HTML and Markdown files with bytes flipped, cut short or spliced together,
hidden-text, XXE and bomb specimens, deeply nested and unclosed HTML and Markdown, bodies over the size
limit, and uploads without a key or with a wrong one. It prints the number of requests, the status classes,
the largest resident memory of the server with its parser processes, the slowest requests, and whether the
service is healthy afterwards (health check, an ordinary upload, a document listing).

Bounded and local: at most `--count` requests and `--seconds` seconds, each request with a timeout, to
127.0.0.1 only. Figures, not a timed test.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from evals.bench.load import HOST, free_port, start_server
from rag.auth import Role, create_key
from rag.context import Context
from rag.ingest import specimens
from rag.settings import Settings

WORKSPACE = "fuzz"
MB = 1_000_000


@dataclass
class Case:
    kind: str
    name: str
    data: bytes
    auth: str = "admin"  # admin / anonymous / wrong-key


@dataclass
class Outcome:
    statuses: Counter = field(default_factory=Counter)
    by_kind: dict[str, Counter] = field(default_factory=dict)
    slowest: list[tuple[float, str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, case: Case, status: str, seconds: float) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.by_kind.setdefault(case.kind, Counter())[status] += 1
            self.slowest = sorted(self.slowest + [(seconds, case.kind, f"{case.name} ({len(case.data):,} B)")],
                                  reverse=True)[:5]


def _seeds() -> list[tuple[str, str, bytes]]:
    """(kind, name, bytes) of the files the mutations start from."""
    out = [("docx", "policy.docx", specimens.policy_docx(2, hidden=True)),
           ("pdf", "policy.pdf", specimens.text_pdf(specimens.policy_pages(2))),
           ("pdf", "hidden.pdf", specimens.hidden_text_pdf())]
    out += [("html", f"{k}.html", v.encode()) for k, v in specimens.hidden_html().items()]
    out += [("md", f"{k}.md", v.encode()) for k, v in specimens.hidden_markdown().items()]
    out += [("docx", f"{k}.docx", v) for k, v in specimens.hidden_table_docx().items()]
    return out


def _mutate(rng: random.Random, data: bytes, other: bytes) -> tuple[str, bytes]:
    how = rng.choice(["flip", "flip", "truncate", "splice", "repeat", "insert-tags"])
    buf = bytearray(data)
    if how == "flip":
        for _ in range(rng.randint(1, 64)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    elif how == "truncate":
        del buf[rng.randint(1, max(1, len(buf) - 1)):]
    elif how == "splice":
        cut = rng.randrange(len(buf))
        buf[cut:] = other[rng.randrange(len(other)):]
    elif how == "repeat":
        start = rng.randrange(len(buf))
        buf[start:start] = bytes(buf[start:start + rng.randint(1, 4096)]) * rng.randint(2, 200)
    else:
        at = rng.randrange(len(buf))
        buf[at:at] = rng.choice([b"<div>", b"<span style='display:none'>", b"<!--", b"<table><tr><td>"]) * \
            rng.randint(100, 20000)
    return how, bytes(buf)


def corpus(count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    seeds = _seeds()
    fixed = [Case("nested-html", "nested.html", specimens.nested_html(2 * MB)),
             Case("unclosed-html", "unclosed.html", specimens.unclosed_html(2 * MB)),
             Case("nested-md", "nested.md", specimens.nested_markdown(2 * MB)),
             Case("xxe-docx", "xxe.docx", specimens.xxe_docx_encoded("utf-32-le", bom=False)),
             Case("xxe-docx", "renamed.docx", specimens.xxe_docx_renamed()),
             Case("bomb-docx", "bomb.docx", specimens.zip_bomb_docx(64)),
             Case("bomb-pdf", "bomb.pdf", specimens.bomb_pdf(1024, 64)),
             Case("huge-body", "huge.md", b"# Huge\n\n" + b"word " * (12 * MB)),
             Case("huge-body", "huge.md", b"# Huge\n\n" + b"word " * (12 * MB), auth="anonymous"),
             Case("anonymous", "anon.md", b"# Anonymous\n\nAccess is reviewed.\n", auth="anonymous"),
             Case("wrong-key", "wrong.md", b"# Wrong key\n\nAccess is reviewed.\n", auth="wrong-key")]
    cases = fixed[:count]
    while len(cases) < count:
        kind, name, data = rng.choice(seeds)
        how, mutated = _mutate(rng, data, rng.choice(seeds)[2])
        auth = rng.choices(["admin", "anonymous", "wrong-key"], [8, 1, 1])[0]
        cases.append(Case(f"{kind}-{how}" if auth == "admin" else auth, f"m{len(cases)}-{name}", mutated, auth))
    rng.shuffle(cases)
    return cases


def _headers(case: Case, key: str) -> dict[str, str]:
    if case.auth == "admin":
        return {"Authorization": f"Bearer {key}"}
    return {"Authorization": "Bearer cm_00000000_not-a-real-key"} if case.auth == "wrong-key" else {}


def send(client: httpx.Client, case: Case, key: str, outcome: Outcome, deadline: float) -> None:
    if time.monotonic() > deadline:
        return
    started = time.perf_counter()
    try:
        response = client.post(f"/api/workspaces/{WORKSPACE}/documents", files={"file": (case.name, case.data)},
                               headers=_headers(case, key))
        status = f"{response.status_code // 100}xx"
        if response.status_code >= 500:
            outcome.errors.append(f"{case.kind} {case.name}: {response.status_code} {response.text[:200]}")
    except httpx.HTTPError as exc:
        status = f"transport error ({type(exc).__name__})"
        outcome.errors.append(f"{case.kind} {case.name}: {type(exc).__name__}: {exc}"[:300])
    outcome.add(case, status, time.perf_counter() - started)


class MemoryWatch(threading.Thread):
    """Largest resident memory of the server and all its descendants (the parser servers and children)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root, self.stop = psutil.Process(pid), threading.Event()
        self.peak_total = self.peak_server = self.peak_child = 0

    def run(self) -> None:
        while not self.stop.wait(0.1):
            try:
                procs = [self.root] + self.root.children(recursive=True)
                sizes = []
                for proc in procs:
                    try:
                        sizes.append(proc.memory_info().rss)
                    except psutil.Error:
                        pass
                self.peak_total = max(self.peak_total, sum(sizes))
                self.peak_server = max([self.peak_server] + sizes[:1])
                self.peak_child = max([self.peak_child] + sizes[1:])
            except psutil.Error:
                return


def health(client: httpx.Client, key: str) -> list[str]:
    headers = {"Authorization": f"Bearer {key}"}
    checks = [("GET /health", client.get("/health")),
              ("upload an ordinary policy", client.post(
                  f"/api/workspaces/{WORKSPACE}/documents", headers=headers,
                  files={"file": ("after.md", b"# After\n\nOwners review access to production every quarter.\n")})),
              ("list documents", client.get(f"/api/workspaces/{WORKSPACE}/documents", headers=headers))]
    return [f"{what}: {response.status_code}" for what, response in checks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args(argv)
    cases = corpus(args.count, args.seed)
    with tempfile.TemporaryDirectory(prefix="ctrlmap-fuzz-") as tmp:
        ctx = Context(Settings.load("offline", data_dir=Path(tmp) / "data"))
        key, _ = create_key(ctx, Role.admin, ctx.workspace(WORKSPACE, create=True), name="fuzz")
        ctx.close()
        port = free_port()
        server = start_server(Path(tmp) / "data", port)
        watch = MemoryWatch(server.pid)
        watch.start()
        outcome = Outcome()
        started = time.monotonic()
        try:
            with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=180) as client:
                with ThreadPoolExecutor(args.clients) as pool:
                    list(pool.map(lambda c: send(client, c, key, outcome, started + args.seconds), cases))
                wall = time.monotonic() - started
                after = health(client, key)
        finally:
            watch.stop.set()
            alive = server.poll() is None
            server.terminate()
            server.wait(30)
    report(outcome, wall, watch, after, alive, len(cases))
    return 1 if outcome.errors or not alive or any(not line.endswith(("200", "201")) for line in after) else 0


def report(outcome: Outcome, wall: float, watch: MemoryWatch, after: list[str], alive: bool, planned: int) -> None:
    sent = sum(outcome.statuses.values())
    print(f"requests: {sent} of {planned} planned, {wall:.0f} s wall")
    print("status classes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcome.statuses.items())))
    for kind, counts in sorted(outcome.by_kind.items()):
        print(f"  {kind:<24} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"max RSS: {watch.peak_total / 2**20:.0f} MB server and parser processes together; "
          f"{watch.peak_server / 2**20:.0f} MB the API process, {watch.peak_child / 2**20:.0f} MB the largest "
          f"parser process (each parse is capped by CTRLMAP_PARSE_MEMORY_MB)")
    print(f"max time per request: {outcome.slowest[0][0]:.2f} s" if outcome.slowest else "max time: -")
    for seconds, kind, name in outcome.slowest:
        print(f"  {seconds:6.2f} s  {kind:<20} {name}")
    for line in outcome.errors[:10]:
        print(f"  server error: {line}")
    print(f"health after: server {'running' if alive else 'DEAD'}; " + "; ".join(after))


if __name__ == "__main__":
    raise SystemExit(main())
