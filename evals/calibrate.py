"""Fit the scorer's confidence model on the development datasets and choose one global operating threshold.

    python -m evals.calibrate ../shared/evals/datasets/*  [--write]

Leave-one-dataset-out: for each dataset, the neighbour weights (how much a clause borrows from its siblings and
crosswalk-linked clauses, chosen on a small grid by MAP), the model and the threshold are fit on the others and
scored on it;
those held-out figures are what the report gives. `--write` then fits on all datasets and writes
`rag/scorer.json`. The threshold is never chosen per dataset.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.mapping import assessable_clauses, with_neighbours
from rag.retrieve import retrieve
from rag.score import FEATURES, ScorerModel, borrow, default_model, document_scores, features, neighbours
from evals import reliability
from evals.datasets import load
from evals.metrics import mean_average_precision, pair_scores
from evals.run import WORKSPACE, gold_and_clauses, prepare

SCORER = Path(__file__).resolve().parents[1] / "rag" / "scorer.json"


@dataclass
class Pair:
    """One dataset x framework: features per labeled control and document, and the gold."""

    dataset: str
    framework: str
    controls: list[str]
    documents: list[str]
    scores: np.ndarray  # scored clauses x documents, before borrowing
    family: np.ndarray
    crosswalk: np.ndarray
    leaves: dict[str, list[int]]  # control -> rows of the clauses that stand for it
    gold: dict[str, set[str]]
    x: np.ndarray | None = None  # controls x documents x features, at the weights last set

    def set_weights(self, family: float, crosswalk: float) -> "Pair":
        x_all = features(borrow(self.scores, self.family, self.crosswalk, family, crosswalk))
        self.x = np.stack([_best_leaf(x_all, self.leaves[c]) for c in self.controls])
        return self


def collect(dataset_dirs: list[Path], stub_tokens: float) -> list[Pair]:
    pairs = []
    for root in dataset_dirs:
        ws = prepare(load(root))
        for framework in ws.dataset.frameworks():
            if framework not in ws.ctx.catalog.frameworks:
                continue
            gold, stand_in, _ = gold_and_clauses(ws, framework)
            if not gold:
                continue
            clauses = with_neighbours(ws.ctx.catalog, assessable_clauses(ws.ctx, [framework]))
            signals = retrieve(ws.ctx, WORKSPACE, clauses)
            row = {c.key: i for i, c in enumerate(clauses)}
            docs = [ws.doc_of[int(d)] for d in signals.documents]
            controls = sorted(gold)
            leaves = {c: [row[leaf.key] for leaf in stand_in[c]] for c in controls}
            pairs.append(Pair(ws.dataset.name, framework, controls, docs, document_scores(signals, stub_tokens),
                              *neighbours(clauses, ws.ctx.catalog), leaves, gold))
            print(f"  collected {ws.dataset.name} / {framework}: {len(controls)} controls x {len(docs)} documents")
        ws.ctx.close()
    return pairs


def _best_leaf(x_all: np.ndarray, rows: list[int]) -> np.ndarray:
    sub = x_all[rows]  # leaves x documents x features
    return np.take_along_axis(sub, sub[:, :, :1].argmax(axis=0)[None], axis=0)[0]


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iters: int = 100) -> tuple[np.ndarray, float]:
    """Plain (unweighted, so calibrated) logistic regression by Newton's method."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    theta = np.zeros(x.shape[1] + 1)
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(xb @ theta, -30, 30)))
        grad = xb.T @ (p - y) / len(y) + l2 * np.r_[theta[:-1], 0]
        hess = (xb.T * (p * (1 - p))) @ xb / len(y) + l2 * np.eye(len(theta))
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    w, b = theta[:-1], float(theta[-1])
    return w, b


def _xy(pairs: list[Pair]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for p in pairs:
        xs.append(p.x.reshape(-1, p.x.shape[-1]))
        ys.append(np.array([[d in p.gold[c] for d in p.documents] for c in p.controls], float).ravel())
    return np.concatenate(xs), np.concatenate(ys)


def _confidence(p: Pair, w: np.ndarray, b: float) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(p.x @ w + b, -30, 30)))


def score_pair(p: Pair, w: np.ndarray, b: float, threshold: float) -> dict:
    conf = _confidence(p, w, b)
    rankings = {c: [p.documents[j] for j in np.argsort(-conf[i])] for i, c in enumerate(p.controls)}
    proposed = {(c, p.documents[j]) for i, c in enumerate(p.controls) for j in np.nonzero(conf[i] >= threshold)[0]}
    s = pair_scores(proposed, p.gold, p.documents)
    return {"map": mean_average_precision(rankings, p.gold), "f1": s.f1, "precision": s.precision,
            "recall": s.recall, "kappa": s.kappa}


def choose_threshold(pairs: list[Pair], w: np.ndarray, b: float) -> float:
    grid = np.round(np.arange(0.05, 0.9, 0.01), 2)
    return float(max(grid, key=lambda t: np.mean([score_pair(p, w, b, t)["f1"] for p in pairs])))


WEIGHT_GRID = [(f, x) for f in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5) for x in (0.0, 0.1, 0.2, 0.3)]


def choose_weights(pairs: list[Pair]) -> tuple[float, float]:
    """The neighbour weights with the best mean MAP (ranking by borrowed score) over these pairs."""
    def mean_map(weights):
        maps = []
        for p in pairs:
            p.set_weights(*weights)
            rankings = {c: [p.documents[j] for j in np.argsort(-p.x[i, :, 0])] for i, c in enumerate(p.controls)}
            maps.append(mean_average_precision(rankings, p.gold))
        return np.mean(maps)
    return max(WEIGHT_GRID, key=mean_map)


def fit(pairs: list[Pair]) -> tuple[tuple[float, float], np.ndarray, float, float]:
    weights = choose_weights(pairs)
    for p in pairs:
        p.set_weights(*weights)
    x, y = _xy(pairs)
    w, b = fit_logistic(x, y)
    return weights, w, b, choose_threshold(pairs, w, b)


def leave_one_dataset_out(pairs: list[Pair]) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """Per held-out pair its scores; and every held-out (confidence, labeled) for the reliability check."""
    rows, confidences, labeled = [], [], []
    for held in sorted({p.dataset for p in pairs}):
        weights, w, b, t = fit([p for p in pairs if p.dataset != held])
        for p in pairs:
            if p.dataset == held:
                p.set_weights(*weights)
                rows.append({"dataset": held, "framework": p.framework, "threshold": t, "weights": weights,
                             **score_pair(p, w, b, t)})
                x, y = _xy([p])
                confidences.append(1 / (1 + np.exp(-np.clip(x @ w + b, -30, 30))))
                labeled.append(y)
    return rows, np.concatenate(confidences), np.concatenate(labeled)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", type=Path)
    parser.add_argument("--write", action="store_true", help="fit on all datasets and write rag/scorer.json")
    parser.add_argument("--plot", type=Path, help="write the held-out reliability diagram (PNG) here")
    args = parser.parse_args()
    prior = default_model()
    pairs = collect(args.datasets, prior.stub_tokens)
    print("\nleave-one-dataset-out (model and threshold fit on the other datasets):")
    rows, confidences, labeled = leave_one_dataset_out(pairs)
    for r in rows:
        print(f"  {r['dataset']:22s} {r['framework']:15s} MAP {r['map']:.3f}  F1 {r['f1']:.3f}  P {r['precision']:.3f}"
              f"  R {r['recall']:.3f}  kappa {r['kappa']:.3f}  (threshold {r['threshold']:.2f},"
              f" family/crosswalk {r['weights'][0]}/{r['weights'][1]})")
    print(f"  mean MAP {np.mean([r['map'] for r in rows]):.3f}  mean F1 {np.mean([r['f1'] for r in rows]):.3f}")
    table = reliability.bins(confidences, labeled)
    print("\nreliability of held-out confidences (bin: pairs, mean confidence, share labeled):")
    for b in table:
        print(f"  {b.low:.1f}-{b.high:.1f}: {b.pairs:6d}  {b.mean_confidence:.3f}  {b.labeled_share:.3f}")
    ece = reliability.expected_calibration_error(table)
    upper = reliability.expected_calibration_error([b for b in table if b.low >= 0.1])
    print(f"  expected calibration error {ece:.3f} (over confidences >= 0.1, where proposals are: {upper:.3f})")
    if args.plot:
        reliability.plot(table, args.plot, f"Held-out reliability, {len(rows)} pairs (ECE {ece:.3f})")
        print(f"  wrote {args.plot}")
    if args.write:
        (family, crosswalk), w, b, t = fit(pairs)
        model = ScorerModel(features=list(FEATURES), weights=[round(float(v), 4) for v in w], bias=round(b, 4),
                            threshold=t, full_threshold=round(min(0.95, t + 0.35), 2),
                            stub_tokens=prior.stub_tokens, family_weight=family, crosswalk_weight=crosswalk,
                            version=f"logit-neighbours-{len(pairs)}pairs",
                            trained_on=sorted({p.dataset for p in pairs}))
        SCORER.write_text(json.dumps(model.dump(), indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {SCORER}: weights {model.weights}, bias {model.bias}, threshold {t}, "
              f"family {family}, crosswalk {crosswalk}")


if __name__ == "__main__":
    main()
