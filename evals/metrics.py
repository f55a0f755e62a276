"""Ranking and decision metrics for clause-to-document mapping.

`rankings` map a control to its documents, best first; `gold` maps a control to the documents its labels
name; `proposed` is the set of (control, document) pairs a method puts in front of a reviewer."""

from __future__ import annotations

from dataclasses import dataclass

KS = (1, 3, 5, 10)


def average_precision(ranked: list[str], relevant: set[str]) -> float:
    """Mean of precision at the rank of each relevant document (unretrieved relevant documents count 0)."""
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for i, doc in enumerate(ranked, 1):
        if doc in relevant:
            hits += 1
            total += hits / i
    return total / len(relevant)


def mean_average_precision(rankings: dict[str, list[str]], gold: dict[str, set[str]]) -> float:
    controls = [c for c in gold if gold[c]]
    return sum(average_precision(rankings.get(c, []), gold[c]) for c in controls) / len(controls) if controls else 0.0


def recall_at(rankings: dict[str, list[str]], gold: dict[str, set[str]], k: int) -> float:
    controls = [c for c in gold if gold[c]]
    if not controls:
        return 0.0
    return sum(len(set(rankings.get(c, [])[:k]) & gold[c]) / len(gold[c]) for c in controls) / len(controls)


@dataclass
class PairScores:
    precision: float
    recall: float
    f1: float
    kappa: float
    tp: int
    fp: int
    fn: int
    tn: int


def pair_scores(proposed: set[tuple[str, str]], gold: dict[str, set[str]], documents: list[str]) -> PairScores:
    """Precision, recall, F1 and Cohen's kappa over all (control, document) pairs of the labeled controls."""
    truth = {(c, d) for c, docs in gold.items() for d in docs}
    universe = len(gold) * len(documents)
    proposed = {(c, d) for c, d in proposed if c in gold}
    tp = len(proposed & truth)
    fp = len(proposed - truth)
    fn = len(truth - proposed)
    tn = universe - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairScores(precision, recall, f1, cohen_kappa(tp, fp, fn, tn), tp, fp, fn, tn)


def cohen_kappa(tp: int, fp: int, fn: int, tn: int) -> float:
    n = tp + fp + fn + tn
    if n == 0:
        return 0.0
    observed = (tp + tn) / n
    expected = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else 0.0
