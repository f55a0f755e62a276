"""The baselines every report compares against, computed on the same ingested passages as the pipeline:
chunk-level BM25, static dense retrieval (WordLlama, cosine), and their reciprocal-rank fusion (k=60),
documents scored by their best chunk; the clause query is its title and catalog text only."""

from __future__ import annotations

import numpy as np

from rag.context import Context
from rag.models import Clause
from rag.retrieve import LexicalIndex, load_passages
from evals.metrics import pair_scores

METHODS = ("bm25", "dense", "hybrid")
RRF_K = 60


def _query(clause: Clause) -> str:
    return f"{clause.title}\n{clause.description}"


def _matrices(ctx: Context, workspace: str, clauses: list[Clause]):
    corpus = load_passages(ctx, workspace)
    texts = [corpus.indexed_text(i) for i in range(len(corpus.passages))]
    queries = [_query(c) for c in clauses]
    lexical = LexicalIndex(texts).scores(queries)
    vectors = ctx.index.vectors(workspace, [p.id for p in corpus.passages])
    dense = ctx.embeddings.embed_array(queries) @ vectors.T
    return corpus, lexical, dense


def _rrf(*matrices: np.ndarray) -> np.ndarray:
    fused = np.zeros_like(matrices[0], dtype=np.float64)
    for m in matrices:
        ranks = np.argsort(np.argsort(-m, axis=1), axis=1)
        fused += 1.0 / (RRF_K + 1 + ranks)
    return fused


def scores(ctx: Context, workspace: str, clauses: list[Clause], method: str,
           doc_of: dict[int, str]) -> dict[str, dict[str, float]]:
    """clause key -> dataset doc id -> score (max over the document's chunks)."""
    corpus, lexical, dense = _matrices(ctx, workspace, clauses)
    matrix = {"bm25": lexical, "dense": dense, "hybrid": None}[method]
    if matrix is None:
        matrix = _rrf(lexical, dense)
    doc_ids = [doc_of[p.document_id] for p in corpus.passages]
    out: dict[str, dict[str, float]] = {}
    for c, clause in enumerate(clauses):
        best: dict[str, float] = {}
        for i, doc in enumerate(doc_ids):
            v = float(matrix[c, i])
            if v > best.get(doc, float("-inf")):
                best[doc] = v
        out[clause.key] = best
    return out


def best_fixed_k(rankings: dict[str, list[str]], gold: dict[str, set[str]], documents: list[str],
                 ks=(1, 2, 3, 5)) -> tuple[int, set[tuple[str, str]]]:
    """Propose the top k documents per control, with the k in `ks` that gives the best pair F1."""
    best = None
    for k in ks:
        pairs = {(c, d) for c, ranked in rankings.items() for d in ranked[:k]}
        f1 = pair_scores(pairs, gold, documents).f1
        if best is None or f1 > best[0]:
            best = (f1, k, pairs)
    return best[1], best[2]
