"""`ctrlmap bench map`: map every assessable clause of the four frameworks against generated corpora.

Corpora are built by varying the sample organization's policies (and, when ../shared is beside the
checkout, the development datasets' documents): company names, numbers and section order change so every
document is distinct. Prints ingest time (separately), mapping wall time, peak RSS, and the ratio against a
per-clause loop (one clause at a time against the same prebuilt indexes). Figures, not a timed test.
"""

from __future__ import annotations

import random
import re
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


def run(sizes: list[int], loop_clauses: int = 40, log: Callable[[str], None] = print) -> list[dict]:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"ctrlmap-bench-{n}-") as tmp:
            tmp_path = Path(tmp)
            build_corpus(tmp_path / "docs", n)
            ctx = Context(Settings.load("offline", data_dir=tmp_path / "data"))
            workspace = ctx.workspace("bench", create=True)
            log(f"{n} documents: ingesting (timed separately)...")
            started = time.perf_counter()
            results = ingest_paths(ctx, workspace, [str(tmp_path / "docs")])
            ingest_s = time.perf_counter() - started
            clauses = assessable_clauses(ctx, ctx.catalog.primary())
            retrieve(ctx, workspace, clauses[:1])  # warm: index sync, clause vectors, model load
            log(f"{n} documents: mapping {len(clauses)} clauses...")
            started = time.perf_counter()
            mapping = propose(ctx, workspace, ctx.catalog.primary())
            map_s = time.perf_counter() - started
            loop_s = per_clause_loop(ctx, workspace, clauses, min(loop_clauses, len(clauses)))
            rows.append({"documents": n, "passages": mapping.stats["passages"], "clauses": len(clauses),
                         "ingest s": round(ingest_s, 1), "map s": round(map_s, 2),
                         "proposals": len(mapping.proposals), "gaps": len(mapping.gaps),
                         "per-clause loop s (extrapolated)": round(loop_s * len(clauses), 1),
                         "batched speed-up": round(loop_s * len(clauses) / map_s, 1),
                         "peak RSS MB": round(peak_rss_mb(), 0),
                         "rejected": sum(r.status == "rejected" for r in results)})
            ctx.close()
    return rows


if __name__ == "__main__":
    for row in run([300, 5000]):
        print(row)
