"""`ctrlmap eval`: ingest a labeled dataset through the real pipeline into a throw-away workspace, map every
labeled framework, and score the pipeline and the baselines (bm25, dense, hybrid) in the same run."""

from __future__ import annotations

import resource
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from rag import citations as cites
from rag.catalog import Catalog
from rag.context import Context
from rag.documents import set_title, texts_by_sha
from rag.errors import InvalidInput
from rag.ingest.pipeline import ingest_paths
from rag.mapping import propose
from rag.models import Clause
from rag.settings import Settings
from evals import baselines
from evals.datasets import Dataset, load
from evals.metrics import KS, mean_average_precision, pair_scores, recall_at

WORKSPACE = "eval"


@dataclass
class RunResult:
    dataset: str
    framework: str
    mode: str
    method: str
    clauses: int
    documents: int
    map: float
    recall_at: dict[str, float]
    precision: float
    recall: float
    f1: float
    kappa: float
    citation_failures: int
    seconds: float
    peak_rss_mb: float
    skipped_controls: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        data = asdict(self)
        data.update(data.pop("extra"))
        return data


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Workspace:
    """A dataset ingested into a throw-away context."""

    dataset: Dataset
    ctx: Context
    doc_of: dict[int, str]  # stored document id -> dataset doc id
    ingest_seconds: float


def prepare(dataset: Dataset, mode: str = "offline", catalogs: list[Path] | None = None,
            data_dir: Path | None = None) -> Workspace:
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix=f"ctrlmap-eval-{dataset.name}-"))
    ctx = Context(Settings.load("llm" if mode == "llm" else "offline", data_dir=data_dir), catalogs or [])
    ctx.workspace(WORKSPACE, create=True)
    started = time.perf_counter()
    results = ingest_paths(ctx, WORKSPACE, [str(dataset.doc_path(d)) for d in dataset.doc_ids])
    rejected = [r for r in results if r.status == "rejected"]
    if rejected:
        print(f"warning: {len(rejected)} document(s) rejected: {[(r.name, r.message) for r in rejected[:3]]}")
    doc_of = {r.document_id: Path(r.name).stem for r in results if r.document_id}
    for document_id, doc_id in doc_of.items():  # titles from docs_meta.jsonl, as a user would name them
        if dataset.titles.get(doc_id):
            set_title(ctx, WORKSPACE, document_id, dataset.titles[doc_id])
    return Workspace(dataset, ctx, doc_of, time.perf_counter() - started)


def gold_and_clauses(ws: Workspace, framework: str) -> tuple[dict[str, set[str]], dict[str, list[Clause]], list[str]]:
    """Gold documents per labeled control, the assessable clauses that stand for each control (itself, or its
    assessable descendants when the label names a parent), and the controls the catalog lacks."""
    catalog = ws.ctx.catalog
    gold, stand_in, skipped = {}, {}, []
    for control, docs in sorted(ws.dataset.labels.get(framework, {}).items()):
        clause = catalog.find(framework, control)
        if clause is None:
            skipped.append(control)
            continue
        leaves = [clause] if clause.assessable else [c for c in catalog.descendants(framework, control) if c.assessable]
        if not leaves:
            skipped.append(control)
            continue
        gold[control], stand_in[control] = docs, leaves
    return gold, stand_in, skipped


def _rank_controls(stand_in: dict[str, list[Clause]], scores: dict[str, dict[str, float]]) -> dict[str, list[str]]:
    """Documents per control, best first; a parent control takes the best score of its clauses."""
    out = {}
    for control, leaves in stand_in.items():
        best: dict[str, float] = {}
        for leaf in leaves:
            for doc, score in scores.get(leaf.key, {}).items():
                best[doc] = max(best.get(doc, float("-inf")), score)
        out[control] = sorted(best, key=lambda d: -best[d])
    return out


def evaluate_framework(ws: Workspace, framework: str, mode: str, methods: list[str], judge=None,
                       log: Callable[[str], None] = print) -> list[RunResult]:
    gold, stand_in, skipped = gold_and_clauses(ws, framework)
    if not gold:
        return []
    clauses = list({c.key: c for leaves in stand_in.values() for c in leaves}.values())
    documents = ws.dataset.doc_ids
    results = []
    if "ctrlmap" in methods:
        results.append(_ctrlmap(ws, framework, mode, clauses, stand_in, gold, skipped, judge))
        log(_line(results[-1]))
    for method in [m for m in methods if m in baselines.METHODS]:
        started = time.perf_counter()
        scores = baselines.scores(ws.ctx, WORKSPACE, clauses, method, ws.doc_of)
        rankings = _rank_controls(stand_in, scores)
        k, pairs = baselines.best_fixed_k(rankings, gold, documents)
        results.append(_result(ws, framework, mode, method, gold, rankings, pairs, documents, 0, started, skipped,
                               {"fixed_k": k}))
        log(_line(results[-1]))
    return results


def _ctrlmap(ws: Workspace, framework: str, mode: str, clauses: list[Clause], stand_in, gold, skipped,
             judge) -> RunResult:
    started = time.perf_counter()
    run = propose(ws.ctx, WORKSPACE, [framework], clauses=clauses, judge=judge)
    scores = {key: {ws.doc_of[d]: conf for d, conf in ranking} for key, ranking in run.rankings.items()}
    rankings = _rank_controls(stand_in, scores)
    leaf_to_controls: dict[str, set[str]] = {}
    for control, leaves in stand_in.items():
        for leaf in leaves:
            leaf_to_controls.setdefault(leaf.id, set()).add(control)
    pairs = {(control, ws.doc_of[p.document_id]) for p in run.proposals
             for control in leaf_to_controls.get(p.clause_id, ())}
    texts = texts_by_sha(ws.ctx)
    failures = sum(1 for p in run.proposals if not p.citations or not all(cites.verify(c, texts) for c in p.citations))
    extra = {"proposals": len(run.proposals), "gaps": len(run.gaps), "scorer": run.stats.get("scorer"),
             "catalog_version": ws.ctx.catalog.version,
             "ingest_seconds": round(ws.ingest_seconds, 2)}
    if judge is not None and hasattr(judge, "usage_summary"):
        extra.update(judge.usage_summary())
    return _result(ws, framework, mode, "ctrlmap", gold, rankings, pairs, ws.dataset.doc_ids, failures, started,
                   skipped, extra)


def _result(ws, framework, mode, method, gold, rankings, pairs, documents, failures, started, skipped,
            extra) -> RunResult:
    scores = pair_scores(pairs, gold, documents)
    return RunResult(
        dataset=ws.dataset.name, framework=framework, mode=mode, method=method, clauses=len(gold),
        documents=len(documents), map=round(mean_average_precision(rankings, gold), 4),
        recall_at={str(k): round(recall_at(rankings, gold, k), 4) for k in KS},
        precision=round(scores.precision, 4), recall=round(scores.recall, 4), f1=round(scores.f1, 4),
        kappa=round(scores.kappa, 4), citation_failures=failures, seconds=round(time.perf_counter() - started, 2),
        peak_rss_mb=round(peak_rss_mb(), 1), skipped_controls=skipped, extra=extra)


def _line(r: RunResult) -> str:
    return (f"  {r.dataset:22s} {r.framework:15s} {r.method:8s} MAP {r.map:.3f}  R@5 {r.recall_at['5']:.3f}  "
            f"P {r.precision:.3f} R {r.recall:.3f} F1 {r.f1:.3f} kappa {r.kappa:.3f}  "
            f"cit.fail {r.citation_failures}  {r.seconds:.1f}s")


def evaluate(dataset_dir: Path, frameworks: list[str] | None = None, mode: str = "offline",
             catalogs: list[Path] | None = None, methods: list[str] | None = None, judge_factory=None,
             log: Callable[[str], None] = print) -> list[RunResult]:
    dataset = load(dataset_dir)
    known = Catalog.load(catalogs or []).frameworks
    keys = [f for f in (frameworks or dataset.frameworks()) if f in known and f in dataset.labels]
    if not keys:
        asked = f"asked for {', '.join(frameworks)}; " if frameworks else ""
        raise InvalidInput(f"{dataset.name}: nothing to score: {asked}its labels name "
                           f"{', '.join(dataset.frameworks()) or 'no framework'}, and ctrlmap has catalogs for "
                           f"{', '.join(sorted(known))}")
    ws = prepare(dataset, mode, catalogs)
    methods = methods or ["ctrlmap", *baselines.METHODS]
    try:
        # one judge per framework, so each run reports its own calls, tokens and cost
        return [r for key in keys for r in evaluate_framework(
            ws, key, mode, methods, judge_factory(ws.ctx) if judge_factory else None, log)]
    finally:
        ws.ctx.close()
