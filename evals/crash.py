"""Crash consistency, measured (a figure, not a timed test): kill `ctrlmap ingest` and `ctrlmap map` with
SIGKILL at random moments, many times, on a folder of generated policies that changes between rounds; after
each kill, run the same command again to completion and check what must always hold:

- no approved mapping quotes text that is missing from its document's current version;
- every live proposal points at its document's current version;
- the vector index holds exactly the current passages (`ctrlmap index check`);
- the audit chain verifies.

    python -m evals.crash --rounds 200 [--seed 7] [--data DIR]

Prints one line per round and a summary with the counts.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

TOPICS = [
    ("Access Control", ["Access to production is granted on least privilege after manager approval.",
                        "Owners review user access every quarter and remove what is no longer needed.",
                        "Every account belongs to one named person and uses multi-factor sign-in."]),
    ("Incident Response", ["Alerts page the on-call engineer, who triages the incident within one hour.",
                           "Customers affected by a confirmed breach are told within two days.",
                           "Each major incident ends with a written review of its causes and fixes."]),
    ("Change Management", ["Every production change is peer reviewed and tested before release.",
                           "Emergency changes are approved by the duty manager and reviewed the next day.",
                           "Releases are logged with their author, approver and time."]),
    ("Backup and Recovery", ["Databases are backed up daily and copies are kept in a second region.",
                             "Restores are tested every quarter and the results are recorded.",
                             "Recovery objectives are set for each service and reviewed yearly."]),
    ("Vendor Management", ["New suppliers are assessed for security before they handle company data.",
                           "Contracts with suppliers include confidentiality and breach notice terms.",
                           "Critical suppliers are reassessed every year."]),
    ("AI Risk", ["Each AI system has a named owner and an impact assessment before release.",
                 "Models are tested for bias and robustness and the results are recorded.",
                 "People can contest decisions that an AI system made about them."]),
]


def policy(topic: str, lines: list[str]) -> str:
    body = "\n\n".join(f"## Rule {i + 1}\n\n{line}" for i, line in enumerate(lines))
    return f"# {topic} Policy\n\n{body}\n"


def mutate(folder: Path, rnd: random.Random, history: dict[str, list[str]]) -> str:
    """Change the folder: add a rule, drop one, or bring back an earlier version of a policy."""
    name = rnd.choice(sorted(history))
    path = folder / name
    choice = rnd.random()
    if choice < 0.3 and len(history[name]) > 1:
        path.write_text(rnd.choice(history[name][:-1]))
        what = "restored an earlier version"
    elif choice < 0.6:
        lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
        if len(lines) > 1:
            lines.pop(rnd.randrange(len(lines)))
        path.write_text(policy(name.removesuffix(".md").replace("-", " ").title(), lines))
        what = "dropped a rule"
    else:
        topic, pool = rnd.choice(TOPICS)
        path.write_text(path.read_text() + f"\n## Addendum {rnd.randrange(10**6)}\n\n{rnd.choice(pool)}\n")
        what = "added a rule"
    history[name].append(path.read_text())
    return f"{what} in {name}"


def cli(data: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", "--data-dir", str(data), "-w", "crash", *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "CTRLMAP_PRESET": "offline", "CTRLMAP_ACTOR": "crash-test"})


def killed(data: Path, args: list[str], after: float) -> bool:
    """Start the command and SIGKILL it after `after` seconds; True when it was still running."""
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "--data-dir", str(data), "-w", "crash", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "CTRLMAP_PRESET": "offline", "CTRLMAP_ACTOR": "crash-test"})
    time.sleep(after)
    alive = proc.poll() is None
    if alive:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return alive


@dataclass
class Tally:
    rounds: int = 0
    killed: int = 0
    reruns_failed: int = 0
    stale_approvals: int = 0
    off_version: int = 0
    index_disagrees: int = 0
    audit_broken: int = 0
    approvals_checked: int = 0
    notes: list[str] = field(default_factory=list)


def check(data: Path, tally: Tally) -> str:
    from rag import audit
    from rag.context import Context
    from rag.corpus import current_shas, texts_by_sha
    from rag.review import list_proposals
    from rag.settings import Settings

    ctx = Context(Settings.load("offline", data_dir=data))
    try:
        proposals = list_proposals(ctx, "crash", limit=10**6)
        texts = texts_by_sha(ctx)
        sha_of = current_shas(ctx, "crash")
        verified = audit.verify_store(ctx)
        approved = [p for p in proposals if p.status.value == "approved"]
        stale = sum(1 for p in approved for c in p.citations if c.quote not in texts[sha_of[p.document_id]])
        off = sum(1 for p in proposals if p.status.value in ("proposed", "approved", "needs-review")
                  and p.document_sha256 != sha_of.get(p.document_id))
    finally:
        ctx.close()
    index = cli(data, "index", "check")
    tally.approvals_checked += len(approved)
    tally.stale_approvals += stale
    tally.off_version += off
    tally.index_disagrees += index.returncode != 0
    tally.audit_broken += not verified.ok
    return (f"approved {len(approved)}, stale {stale}, off-version {off}, "
            f"index {'ok' if index.returncode == 0 else index.stdout.strip()}, audit {'ok' if verified.ok else verified.problem}")


def approve_some(data: Path, rnd: random.Random) -> int:
    """A reviewer approves a few open proposals (in process, as the CLI would)."""
    from rag import workflows
    from rag.context import Context
    from rag.models import Action
    from rag.review import list_proposals
    from rag.settings import Settings

    ctx = Context(Settings.load("offline", data_dir=data))
    try:
        open_ = [p for p in list_proposals(ctx, "crash", status="proposed", limit=10**6) if p.citations]
        chosen = rnd.sample(open_, min(3, len(open_)))
        for p in chosen:
            workflows.decide(ctx, "crash", p.id, "crash-test", Action.approve, "crash round")
        return len(chosen)
    finally:
        ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--max-kill-after", type=float, default=6.0, help="kill window before a run is timed")
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    base = Path(args.data or tempfile.mkdtemp(prefix="ctrlmap-crash-"))
    data, folder = base / "data", base / "policies"
    folder.mkdir(parents=True, exist_ok=True)
    history: dict[str, list[str]] = {}
    for topic, lines in TOPICS:
        name = topic.lower().replace(" ", "-") + ".md"
        (folder / name).write_text(policy(topic, lines))
        history[name] = [(folder / name).read_text()]
    first = cli(data, "ingest", str(folder))
    cli(data, "map", "-f", "soc2-tsc-2017", "-f", "iso42001-2023")
    print(f"data in {base}; first ingest exit {first.returncode}", flush=True)
    tally, started = Tally(), time.perf_counter()
    duration = {"ingest": args.max_kill_after, "map": args.max_kill_after}  # how long a full run took last
    for i in range(args.rounds):
        what = mutate(folder, rnd, history)
        command = ["ingest", str(folder)] if rnd.random() < 0.6 else ["map", "-f", "soc2-tsc-2017",
                                                                       "-f", "iso42001-2023"]
        was_alive = killed(data, command, rnd.uniform(0.2, duration[command[0]]))  # any moment of a run
        tally.killed += was_alive
        clock = time.perf_counter()
        rerun = cli(data, *command)
        duration[command[0]] = time.perf_counter() - clock
        if rerun.returncode not in (0,):
            tally.reruns_failed += 1
            tally.notes.append(f"round {i + 1}: {' '.join(command[:1])} exit {rerun.returncode}: "
                               f"{(rerun.stderr or rerun.stdout).strip()[-300:]}")
        approve_some(data, rnd)
        tally.rounds += 1
        print(f"round {i + 1:3d}: {what}; {command[0]} {'killed' if was_alive else 'finished before the kill'}; "
              f"re-run exit {rerun.returncode}; {check(data, tally)}", flush=True)
    print("\nsummary")
    for key, value in tally.__dict__.items():
        if key != "notes":
            print(f"  {key}: {value}")
    print(f"  wall time: {time.perf_counter() - started:.0f} s")
    for note in tally.notes[:20]:
        print(f"  {note}")


if __name__ == "__main__":
    main()
