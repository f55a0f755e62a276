"""The judged operating point, chosen leave-one-dataset-out with simulated judges.

`python -m evals.judge_point DATASET_DIR...` maps every labeled framework of each dataset once offline and once
under each simulated judge (oracle, noisy:0.1, noisy:0.2; see evals.simulated), keeps the judge's verdicts,
and then, for each dataset held out in turn, picks the combination weights (verdict log-odds, the siblings'
weight, the proposal threshold of rag.mapping.combine) that maximize the summed mean F1 of the three judges
on the OTHER datasets, and scores the held-out pairs with them. It prints one row per held-out pair and judge
next to that pair's offline ctrlmap and hybrid-baseline figures, and the choice fitted on all datasets.

Simulations: these figures measure the pipeline around a judge, never a model's quality.
"""

from __future__ import annotations

import argparse
import itertools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evals.datasets import load
from evals.metrics import mean_average_precision, pair_scores
from evals.run import WORKSPACE, _gold_names, evaluate_framework, gold_and_clauses, prepare
from evals.simulated import parse_judge, simulated_judge
from rag.catalog import Catalog
from rag.mapping import combine, propose
from rag.score import neighbours

JUDGES = ("oracle", "noisy:0.1", "noisy:0.2")
GRID = {"satisfies": (2.5, 3.0, 3.5), "does_not": (-1.5, -3.0), "threshold": (0.25, 0.3, 0.35, 0.4, 0.45),
        "family": (0.0, 0.5, 0.75, 1.0)}


@dataclass
class Judged:
    """One pair under one simulated judge: offline confidence, verdicts and what reached the judge."""

    dataset: str
    framework: str
    judge: str
    keys: list[str]
    documents: list[str]
    offline: np.ndarray  # clause x document
    verdicts: list[dict[str, str]]  # per clause: dataset doc id -> verdict
    sent: list[set[str]]
    family: np.ndarray
    stand_in: dict[str, list[str]]
    gold: dict[str, set[str]]
    baselines: dict[str, dict] = field(default_factory=dict)  # method -> {"f1", "map"}


class _Capture:
    """A judge wrapper that keeps the items (with their verdicts) the run gave it."""

    def __init__(self, inner) -> None:
        self.inner, self.items = inner, []

    def review(self, items, progress=None):
        out = self.inner.review(items, progress)
        self.items = items
        return out


def collect(dataset_dir: Path) -> list[Judged]:
    dataset = load(dataset_dir)
    ws = prepare(dataset)
    known = Catalog.load([]).frameworks
    out = []
    try:
        for fw in [f for f in dataset.frameworks() if f in known and f in dataset.labels]:
            gold, stand_in, _ = gold_and_clauses(ws, fw)
            clauses = list({c.key: c for leaves in stand_in.values() for c in leaves}.values())
            rows = {r.method: {"f1": r.f1, "map": r.map}
                    for r in evaluate_framework(ws, fw, "offline", ["ctrlmap", "hybrid"], log=lambda _: None)}
            run = propose(ws.ctx, WORKSPACE, [fw], clauses=clauses)
            col = {doc: j for j, doc in enumerate(dataset.doc_ids)}
            offline = np.full((len(clauses), len(col)), 1e-6)
            for c, clause in enumerate(clauses):
                for d, conf in run.rankings[clause.key]:
                    offline[c, col[ws.doc_of[d]]] = conf
            family = neighbours(clauses, ws.ctx.catalog)[0]
            for name in JUDGES:
                judge = _Capture(simulated_judge(ws.ctx, parse_judge(name), _gold_names(ws, fw, stand_in, gold)))
                propose(ws.ctx, WORKSPACE, [fw], clauses=clauses, judge=judge)
                sent = judge.inner.sent_documents
                out.append(Judged(
                    dataset.name, fw, name, [c.key for c in clauses], dataset.doc_ids, offline,
                    [{ws.doc_of[d]: v for d, v in item.verdicts.items()} for item in judge.items],
                    [{ws.doc_of[d] for d in sent.get(c.key, ())} for c in clauses], family,
                    {k: [leaf.key for leaf in v] for k, v in stand_in.items()}, gold, rows))
    finally:
        ws.ctx.close()
    return out


def score(j: Judged, satisfies: float, does_not: float, threshold: float, family: float,
          max_proposals: int = 5) -> dict[str, float]:
    """F1, precision, recall, MAP and candidate ceiling of the pair under these combination weights."""
    col = {doc: i for i, doc in enumerate(j.documents)}
    v = np.zeros_like(j.offline)
    for c, verdicts in enumerate(j.verdicts):
        for doc, verdict in verdicts.items():
            v[c, col[doc]] = does_not if verdict == "does_not" else satisfies
    combined = combine(j.offline, v, j.family, family)
    proposed, ranked = set(), {}
    for c, key in enumerate(j.keys):
        positive = [col[d] for d, verdict in j.verdicts[c].items() if verdict != "does_not"]
        kept = sorted((i for i in positive if combined[c, i] >= threshold), key=lambda i: -combined[c, i])
        proposed |= {(key, j.documents[i]) for i in kept[:max_proposals]}
        ranked[key] = combined[c]
    pairs = {(control, doc) for control, leaves in j.stand_in.items() for key, doc in proposed if key in leaves}
    rankings = {control: [j.documents[i] for i in np.argsort(-np.max([ranked[k] for k in leaves], axis=0))]
                for control, leaves in j.stand_in.items()}
    s = pair_scores(pairs, j.gold, j.documents)
    gold_pairs = [(control, doc) for control, docs in j.gold.items() for doc in docs]
    sent = dict(zip(j.keys, j.sent))
    ceiling = sum(any(doc in sent[k] for k in j.stand_in[control]) for control, doc in gold_pairs) / len(gold_pairs)
    return {"f1": s.f1, "precision": s.precision, "recall": s.recall,
            "map": mean_average_precision(rankings, j.gold), "ceiling": ceiling}


def _objective(records: list[Judged], params: tuple) -> float:
    by_judge: dict[str, list[float]] = {}
    for r in records:
        by_judge.setdefault(r.judge, []).append(score(r, *params)["f1"])
    return sum(np.mean(v) for v in by_judge.values())


def best(records: list[Judged]) -> tuple:
    grid = list(itertools.product(*GRID.values()))
    return max(grid, key=lambda p: _objective(records, p))


def lodo(records: list[Judged]) -> list[dict]:
    rows = []
    for held in sorted({r.dataset for r in records}):
        params = best([r for r in records if r.dataset != held])
        for r in (r for r in records if r.dataset == held):
            rows.append({"dataset": held, "framework": r.framework, "judge": r.judge, "params": params,
                         **score(r, *params), "offline": r.baselines.get("ctrlmap"),
                         "hybrid": r.baselines.get("hybrid")})
    return rows


def markdown(rows: list[dict], fitted: tuple) -> str:
    out = ["| held out | framework | judge | sat / not / threshold / siblings | ceiling | P | R | F1 | MAP | "
           "offline F1 / MAP | hybrid F1 / MAP |", "|---|---|---|---|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        p = r["params"]
        out.append(f"| {r['dataset']} | {r['framework']} | {r['judge']} (simulated) | {p[0]:g} / {p[1]:g} / "
                   f"{p[2]:g} / {p[3]:g} | {r['ceiling']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} | "
                   f"{r['f1']:.3f} | {r['map']:.3f} | {r['offline']['f1']:.3f} / {r['offline']['map']:.3f} | "
                   f"{r['hybrid']['f1']:.3f} / {r['hybrid']['map']:.3f} |")
    for judge in JUDGES:
        sel = [r for r in rows if r["judge"] == judge]
        out.append(f"| **mean** | | {judge} (simulated) | | {np.mean([r['ceiling'] for r in sel]):.3f} | "
                   f"{np.mean([r['precision'] for r in sel]):.3f} | {np.mean([r['recall'] for r in sel]):.3f} | "
                   f"**{np.mean([r['f1'] for r in sel]):.3f}** | {np.mean([r['map'] for r in sel]):.3f} | | |")
    below = [r for r in rows if r["f1"] < r["hybrid"]["f1"] or r["map"] < r["hybrid"]["map"]]
    out += ["", f"Fitted on all datasets: satisfies {fitted[0]:g}, does not {fitted[1]:g}, threshold "
                f"{fitted[2]:g}, siblings {fitted[3]:g}. Held-out pair rows below their own hybrid baseline "
                f"(F1 or MAP): {len(below)}" + (": " + ", ".join(f"{r['dataset']}/{r['framework']}/{r['judge']}"
                                                                  for r in below) if below else ".")]
    return "\n".join(out)


def main() -> None:
    logging.disable(logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", type=Path)
    args = parser.parse_args()
    records = [r for d in args.datasets for r in collect(d)]
    print(markdown(lodo(records), best(records)))


if __name__ == "__main__":
    main()
