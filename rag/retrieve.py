"""Candidate retrieval for many clauses at once: lexical (BM25) and dense (static embeddings) scores of every
clause against every current passage, computed as two matrix products rather than one query per clause."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from sqlalchemy import select

from rag.context import Context
from rag.index import passage_document
from rag.models import Clause, Passage
from rag.store import DocumentRow, PassageRow, VersionRow


@dataclass
class Corpus:
    """The current, visible passages of a workspace, with what scoring and citing need."""

    passages: list[Passage]
    titles: dict[int, str] = field(default_factory=dict)  # document id -> title
    names: dict[int, str] = field(default_factory=dict)  # document id -> name
    texts: dict[str, str] = field(default_factory=dict)  # version sha256 -> canonical text

    def indexed_text(self, i: int) -> str:
        p = self.passages[i]
        return passage_document(p, self.titles.get(p.document_id, ""))

    @property
    def document_ids(self) -> np.ndarray:
        return np.array([p.document_id for p in self.passages], dtype=np.int64)


def load_passages(ctx: Context, workspace: str, include_hidden: bool = False) -> Corpus:
    with ctx.store.session() as s:
        rows = s.execute(
            select(PassageRow, VersionRow, DocumentRow)
            .join(VersionRow, PassageRow.version_id == VersionRow.id)
            .join(DocumentRow, PassageRow.document_id == DocumentRow.id)
            .where(PassageRow.workspace == workspace, PassageRow.current.is_(True))
            .order_by(DocumentRow.id, PassageRow.seq)).all()
        corpus = Corpus(passages=[])
        for prow, vrow, drow in rows:
            if prow.hidden and not include_hidden:
                continue
            corpus.texts.setdefault(vrow.sha256, vrow.text)
            corpus.titles[drow.id] = drow.title
            corpus.names[drow.id] = drow.name
            corpus.passages.append(Passage(
                id=prow.id, version_id=vrow.id, document_id=drow.id, document_sha256=vrow.sha256, seq=prow.seq,
                start=prow.start, end=prow.end, text=vrow.text[prow.start:prow.end],
                heading_path=prow.heading_path, page=prow.page, hidden=prow.hidden))
    return corpus


# --- lexical --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), show_progress=False, return_ids=False)


class LexicalIndex:
    """BM25 (bm25s) weights as a sparse term x passage matrix, so all clause queries score in one product."""

    def __init__(self, texts: list[str], k1: float = 1.2, b: float = 0.75) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)

        tokens = tokenize(texts)
        self.vocab = {t: i for i, t in enumerate(sorted({t for doc in tokens for t in doc}))}
        retriever = bm25s.BM25(k1=k1, b=b)
        ids = [[self.vocab[t] for t in doc] for doc in tokens]
        retriever.index(bm25s.tokenization.Tokenized(ids=ids, vocab=self.vocab), show_progress=False)
        s = retriever.scores
        self.weights = sp.csr_matrix((s["data"], s["indices"], s["indptr"]),
                                     shape=(len(s["indptr"]) - 1, s["num_docs"]))

    def query_matrix(self, queries: list[str]) -> sp.csr_matrix:
        rows, cols, vals = [], [], []
        n_terms = self.weights.shape[0]
        for r, tokens in enumerate(tokenize(queries)):
            counts: dict[int, int] = {}
            for t in tokens:
                j = self.vocab.get(t)
                if j is not None and j < n_terms:
                    counts[j] = counts.get(j, 0) + 1
            for j, c in counts.items():
                rows.append(r)
                cols.append(j)
                vals.append(1.0 + np.log(c))
        return sp.csr_matrix((vals, (rows, cols)), shape=(len(queries), n_terms), dtype=np.float32)

    def scores(self, queries: list[str]) -> np.ndarray:
        return np.asarray((self.query_matrix(queries) @ self.weights).todense(), dtype=np.float32)


# --- both -----------------------------------------------------------------------------------------------


@dataclass
class Signals:
    """Per clause x passage scores from each retriever."""

    clauses: list[Clause]
    corpus: Corpus
    lexical: np.ndarray
    dense: np.ndarray


def clause_queries(ctx: Context, clauses: list[Clause]) -> list[str]:
    return [c.query_text() for c in clauses]


def retrieve(ctx: Context, workspace: str, clauses: list[Clause], corpus: Corpus | None = None) -> Signals:
    from rag.ingest.pipeline import sync_index

    corpus = corpus or load_passages(ctx, workspace)
    if not corpus.passages or not clauses:
        empty = np.zeros((len(clauses), len(corpus.passages)), dtype=np.float32)
        return Signals(clauses, corpus, empty, empty.copy())
    sync_index(ctx, workspace)
    texts = [corpus.indexed_text(i) for i in range(len(corpus.passages))]
    queries = clause_queries(ctx, clauses)
    lexical = LexicalIndex(texts).scores(queries)
    passage_vecs = ctx.index.vectors(workspace, [p.id for p in corpus.passages])
    clause_vecs = ctx.index.clause_vectors(ctx.catalog.version, clauses, queries)
    dense = clause_vecs @ passage_vecs.T
    return Signals(clauses, corpus, lexical, dense.astype(np.float32))
