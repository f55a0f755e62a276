"""From passage-level signals to per-document evidence, a calibrated confidence, and a decision to propose.

For each clause every signal is standardized across the corpus (so clauses with long or short queries are
comparable), the signals are fused, and passage evidence is aggregated per document. A small logistic model
turns the document's features into a confidence; one global threshold decides what is proposed and what is
a gap. The model's weights live in `rag/scorer.json` (fit by `python -m evals.calibrate` on the development
sets, leave-one-dataset-out figures in its report).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from rag.retrieve import Signals


@dataclass
class ScorerModel:
    features: list[str]
    weights: list[float]
    bias: float
    threshold: float
    full_threshold: float
    lexical_weight: float = 0.5
    version: str = "default"

    def confidence(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(x @ np.asarray(self.weights, dtype=np.float32) + self.bias)))


@lru_cache(maxsize=1)
def default_model() -> ScorerModel:
    data = json.loads(resources.files("rag").joinpath("scorer.json").read_text(encoding="utf-8"))
    return ScorerModel(**data)


def _standardize(m: np.ndarray) -> np.ndarray:
    mean = m.mean(axis=1, keepdims=True)
    std = m.std(axis=1, keepdims=True)
    return (m - mean) / np.maximum(std, 1e-6)


@dataclass
class DocumentEvidence:
    """Per clause x document: features, confidence and the best passages (indices into the corpus)."""

    documents: np.ndarray  # document ids, one column each
    features: np.ndarray  # clauses x documents x features
    confidence: np.ndarray  # clauses x documents
    best_passages: list[list[list[int]]]  # clause -> document column -> passage indices, best first
    fused: np.ndarray  # clauses x passages


FEATURES = ("fused_max", "fused_top2", "fused_doc_z", "lexical_max", "dense_max", "dense_raw", "rank_inv")


def document_evidence(signals: Signals, model: ScorerModel | None = None, keep: int = 3) -> DocumentEvidence:
    model = model or default_model()
    n_clauses, n_passages = signals.lexical.shape
    doc_of = signals.corpus.document_ids
    documents = np.unique(doc_of)
    if n_passages == 0 or n_clauses == 0:
        empty = np.zeros((n_clauses, len(documents)), dtype=np.float32)
        return DocumentEvidence(documents, np.zeros((n_clauses, len(documents), len(FEATURES))), empty,
                                [[[] for _ in documents] for _ in range(n_clauses)], signals.lexical)
    zl, zd = _standardize(signals.lexical), _standardize(signals.dense)
    w = model.lexical_weight
    fused = w * zl + (1 - w) * zd
    cols = np.searchsorted(documents, doc_of)
    feats = np.zeros((n_clauses, len(documents), len(FEATURES)), dtype=np.float32)
    best: list[list[list[int]]] = [[[] for _ in documents] for _ in range(n_clauses)]
    for j, _doc in enumerate(documents):
        idx = np.nonzero(cols == j)[0]
        f = fused[:, idx]
        order = np.argsort(-f, axis=1)
        top1 = np.take_along_axis(f, order[:, :1], axis=1)[:, 0]
        top2 = np.take_along_axis(f, order[:, :2], axis=1).mean(axis=1)
        feats[:, j, 0] = top1
        feats[:, j, 1] = top2
        feats[:, j, 3] = zl[:, idx].max(axis=1)
        feats[:, j, 4] = zd[:, idx].max(axis=1)
        feats[:, j, 5] = signals.dense[:, idx].max(axis=1)
        for c in range(n_clauses):
            best[c][j] = [int(idx[k]) for k in order[c, :keep]]
    doc_scores = feats[:, :, 0]
    feats[:, :, 2] = _standardize(doc_scores) if len(documents) > 1 else 0.0
    ranks = np.argsort(np.argsort(-doc_scores, axis=1), axis=1)
    feats[:, :, 6] = 1.0 / (1.0 + ranks)
    selected = [FEATURES.index(name) for name in model.features]
    confidence = model.confidence(feats[:, :, selected])
    return DocumentEvidence(documents, feats, confidence.astype(np.float32), best, fused)
