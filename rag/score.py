"""From retrieval signals to one score per clause and document, a calibrated confidence, and a decision.

Content evidence is the sum of the passage signals (lexical and dense, three queries, pooled per document)
and whole-document BM25, standardized across the workspace's documents. A document with almost no text (a
stub: "Coming soon") cannot be judged on content, so its title speaks for it, in proportion to how little
text it has. A logistic model turns the score and the document's rank into a confidence; one global
threshold decides what is proposed and what is a gap. Before that, each clause borrows a share of the evidence
of its siblings (same parent, same framework) and of the clauses a crosswalk links it to: policies are written
for families of requirements, and a document that meets a clause's neighbours likely speaks to it too (the
"map once, satisfy many" prior). The model lives in `rag/scorer.json`, fit by
`python -m evals.calibrate` on the development datasets, which also reports leave-one-dataset-out figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from rag.catalog import Catalog
from rag.models import Clause
from rag.retrieve import Signals, standardize

FEATURES = ("score", "rank_inv")


@dataclass
class ScorerModel:
    features: list[str]
    weights: list[float]
    bias: float
    threshold: float
    full_threshold: float
    stub_tokens: float = 30.0
    family_weight: float = 0.0
    crosswalk_weight: float = 0.0
    version: str = "default"
    trained_on: list[str] | None = None

    def confidence(self, x: np.ndarray) -> np.ndarray:
        z = x @ np.asarray(self.weights, dtype=np.float32) + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def dump(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@lru_cache(maxsize=1)
def default_model() -> ScorerModel:
    data = json.loads(resources.files("rag").joinpath("scorer.json").read_text(encoding="utf-8"))
    return ScorerModel(**{k: v for k, v in data.items() if k in ScorerModel.__dataclass_fields__})


def _across_documents(m: np.ndarray, n_documents: int) -> np.ndarray:
    """Standardize per clause across documents; with too few documents to compare, leave as is."""
    return standardize(m) if n_documents >= 3 else m


def document_scores(signals: Signals, stub_tokens: float = 30.0) -> np.ndarray:
    """Clause x document score: content evidence, with the title standing in for near-empty documents."""
    n_d = signals.n_documents
    n_c = len(signals.clauses)
    if n_d == 0 or n_c == 0:
        return np.zeros((n_c, n_d), dtype=np.float32)
    content = sum(signals.pooled.values()) + sum(_across_documents(m, n_d) for m in signals.whole.values())
    content = _across_documents(content, n_d) if n_d >= 3 else content / (len(signals.pooled) + len(signals.whole))
    title = _across_documents(sum(_across_documents(m, n_d) for m in signals.title.values()), n_d)
    stub = np.exp(-signals.tokens / stub_tokens)[None, :]
    return (content * (1 - stub) + title * stub).astype(np.float32)


def _row_normalized(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(m.sum(axis=1, keepdims=True), 1e-9)


def neighbours(clauses: list[Clause], catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
    """Clause x clause weights (rows sum to one, or zero): siblings under the same parent, and crosswalk links."""
    n = len(clauses)
    row = {c.key: i for i, c in enumerate(clauses)}
    family, crosswalk = np.zeros((n, n), np.float32), np.zeros((n, n), np.float32)
    by_parent: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(clauses):
        if c.parent:
            by_parent.setdefault((c.framework, c.parent), []).append(i)
        for other in catalog.related(c.framework, c.id):
            if other.key in row:
                crosswalk[i, row[other.key]] = 1.0
    for members in by_parent.values():
        for i in members:
            family[i, [j for j in members if j != i]] = 1.0
    return _row_normalized(family), _row_normalized(crosswalk)


def borrow(scores: np.ndarray, family: np.ndarray, crosswalk: np.ndarray, family_weight: float,
           crosswalk_weight: float) -> np.ndarray:
    """Each clause's scores plus a share of its neighbours' (their own scores, not already-borrowed ones)."""
    out = scores.copy()
    if family_weight:
        out += family_weight * (family @ scores)
    if crosswalk_weight:
        out += crosswalk_weight * (crosswalk @ scores)
    return out.astype(np.float32)


def features(scores: np.ndarray) -> np.ndarray:
    """Clause x document x FEATURES."""
    ranks = np.argsort(np.argsort(-scores, axis=1), axis=1)
    return np.stack([scores, 1.0 / (1.0 + ranks)], axis=-1).astype(np.float32)


@dataclass
class DocumentEvidence:
    """Per clause x document: score, features and confidence; and each document's best passages."""

    documents: np.ndarray
    scores: np.ndarray
    features: np.ndarray
    confidence: np.ndarray
    segments: list[tuple[int, int]]
    passage: np.ndarray  # clause x passage evidence (for choosing citations and judge candidates)

    def best_passages(self, c: int, j: int, keep: int = 3) -> list[int]:
        """Indices (into the corpus) of document column j's strongest passages for clause c."""
        s, e = self.segments[j]
        return [int(s + k) for k in np.argsort(-self.passage[c, s:e])[:keep]]


def document_evidence(signals: Signals, model: ScorerModel | None = None,
                      catalog: Catalog | None = None) -> DocumentEvidence:
    """Scores, features and confidence; with a catalog, clauses borrow evidence from their neighbours."""
    model = model or default_model()
    scores = document_scores(signals, model.stub_tokens)
    if catalog is not None and scores.size:
        scores = borrow(scores, *neighbours(signals.clauses, catalog), model.family_weight, model.crosswalk_weight)
    feats = features(scores)
    selected = [FEATURES.index(name) for name in model.features]
    confidence = model.confidence(feats[:, :, selected]) if scores.size else scores
    return DocumentEvidence(signals.documents, scores, feats, confidence.astype(np.float32), signals.segments,
                            signals.passage)
