"""`ctrlmap bench map`: map every assessable clause of the four frameworks against generated corpora.

Corpora are built by varying the sample organization's policies (and, when ../shared is beside the
checkout, the development datasets' documents): company names, numbers and section order change so every
document is distinct. Ingest and mapping each run in a fresh process, so each one's peak RSS is its own;
prints their times, peak RSS, the most SQLite temp space held at once (deleted temp files, sampled), growth
of the mapping RSS per document between sizes, and the ratio against a per-clause loop (one clause at a time
against the same prebuilt indexes, run after the peak is taken; 0 skips it). Figures, not a timed test.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from rag.context import Context
from rag.ingest.pipeline import ingest_paths
from rag.mapping import assessable_clauses, propose
from rag.retrieve import LexicalIndex, clause_queries, load_passages, pool_top2, retrieve, standardize
from rag.samples import sample_dir
from rag.settings import Settings
from evals.bench.procs import Sampler
from evals.run import peak_rss_mb

SHARED_DATASETS = Path(__file__).resolve().parents[3] / "shared" / "evals" / "datasets"
NAMES = ["Halcyon", "Northbeam", "Quillfield", "Tidewater", "Larkspur", "Ironvale", "Brightloom", "Cedarline"]


def base_texts() -> list[str]:
    with sample_dir() as sample:
        texts = [p.read_text(encoding="utf-8") for p in sorted((sample / "policies").glob("*.md"))]
        texts += [p.read_text(encoding="utf-8") for p in sorted((sample / "sources").glob("*.md"))]
    if SHARED_DATASETS.is_dir():
        texts += [p.read_text(encoding="utf-8") for p in sorted(SHARED_DATASETS.glob("*/docs/*.md"))
                  if p.stat().st_size > 800]
    return texts


def vary(text: str, i: int, rng: random.Random) -> str:
    """A distinct but realistic variant: another company name, shifted numbers, shuffled sections."""
    text = re.sub(r"\bHalcyon\b|\{\{COMPANY\}\}|\{\{\.Name\}\}", NAMES[i % len(NAMES)], text)
    text = re.sub(r"\b(\d{1,3})\b", lambda m: str(max(1, int(m.group(1)) + rng.randint(-2, 2))), text)
    head, *sections = re.split(r"\n(?=## )", text)
    rng.shuffle(sections)
    return "\n".join([head, *sections]) + f"\n\nDocument reference GEN-{i:05d}.\n"


def build_corpus(folder: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    bases = base_texts()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"policy-{i:05d}.md").write_text(vary(bases[i % len(bases)], i, rng), encoding="utf-8")


def per_clause_loop(ctx: Context, workspace: str, clauses: list, n: int) -> float:
    """Seconds per clause when clauses are scored one at a time against the same prebuilt indexes."""
    corpus = load_passages(ctx, workspace)
    texts = [corpus.indexed_text(i) for i in range(len(corpus.passages))]
    lexical = LexicalIndex(texts)
    vectors = ctx.index.vectors(workspace, [p.id for p in corpus.passages])
    ids = corpus.document_ids
    starts = np.concatenate([[0], np.nonzero(np.diff(ids))[0] + 1])
    segments = list(zip(starts.tolist(), np.concatenate([starts[1:], [len(ids)]]).tolist()))
    started = time.perf_counter()
    for clause in clauses[:n]:
        for query in clause_queries(clause).values():
            lex = standardize(lexical.scores([query]))
            dense = standardize(ctx.embeddings.embed_array([query]) @ vectors.T)
            pool_top2(lex, segments), pool_top2(dense, segments)
    return (time.perf_counter() - started) / n


class TempSampler(Sampler):
    """The most bytes of SQLite temp files (unlinked as soon as opened, so only their descriptors show them)
    this process held at once under `folder`."""

    every = 0.05

    def __init__(self, folder: Path) -> None:
        self.folder, self.peak = str(folder), 0

    def sample(self) -> None:
        total = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}").startswith(self.folder):
                    total += os.stat(f"/proc/self/fd/{fd}").st_size
            except OSError:
                continue
        self.peak = max(self.peak, total)


def phase(name: str, folder: Path, loop_clauses: int) -> dict:
    """One phase in this (fresh) process: `ingest` the generated documents, or `map` them."""
    temp = folder / "sqlite-tmp"
    temp.mkdir(exist_ok=True)
    os.environ["SQLITE_TMPDIR"] = str(temp)
    ctx = Context(Settings.load("offline", data_dir=folder / "data"))
    workspace = ctx.workspace("bench", create=True)
    with TempSampler(temp) as sampler:
        started = time.perf_counter()
        if name == "ingest":
            results = ingest_paths(ctx, workspace, [str(folder / "docs")])
            row = {"ingest s": round(time.perf_counter() - started, 1),
                   "rejected": sum(r.status == "rejected" for r in results)}
        else:
            clauses = assessable_clauses(ctx, ctx.catalog.primary())
            retrieve(ctx, workspace, clauses[:1])  # warm: index sync, clause vectors, model load
            started = time.perf_counter()
            mapping = propose(ctx, workspace, ctx.catalog.primary())
            row = {"passages": mapping.stats["passages"], "clauses": len(clauses),
                   "map s": round(time.perf_counter() - started, 2), "proposals": len(mapping.proposals),
                   "gaps": len(mapping.gaps)}
    row[f"{name} peak RSS MB"] = round(peak_rss_mb(), 0)
    row[f"{name} SQLite temp peak MB"] = round(sampler.peak / 2**20, 1)
    if name == "map" and loop_clauses:
        loop_s = per_clause_loop(ctx, workspace, clauses, min(loop_clauses, len(clauses)))
        row["per-clause loop s (extrapolated)"] = round(loop_s * len(clauses), 1)
        row["batched speed-up"] = round(loop_s * len(clauses) / row["map s"], 1)
    ctx.close()
    return row


def _in_child(name: str, folder: Path, loop_clauses: int) -> dict:
    done = subprocess.run([sys.executable, "-m", "evals.bench.mapping", name, str(folder), str(loop_clauses)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"bench {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(sizes: list[int], loop_clauses: int = 40, log: Callable[[str], None] = print) -> list[dict]:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"ctrlmap-bench-{n}-") as tmp:
            folder = Path(tmp)
            build_corpus(folder / "docs", n)
            corpus_mb = sum(p.stat().st_size for p in (folder / "docs").iterdir()) / 2**20
            log(f"{n} documents ({corpus_mb:.0f} MB): ingesting in a fresh process...")
            row = {"documents": n, "corpus MB": round(corpus_mb, 1), **_in_child("ingest", folder, 0)}
            log(f"{n} documents: mapping in a fresh process...")
            row.update(_in_child("map", folder, loop_clauses))
        if rows:
            prev = rows[-1]
            row["map RSS growth KB/document"] = round(
                1024 * (row["map peak RSS MB"] - prev["map peak RSS MB"]) / (n - prev["documents"]), 1)
        rows.append(row)
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] in ("ingest", "map"):
        print(json.dumps(phase(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))))
    else:
        for row in run([300, 5000]):
            print(row)
