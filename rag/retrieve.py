"""Candidate retrieval for many clauses at once.

Each clause is queried three ways (everything known about it; its title and keywords; its title and the
language a policy meeting it would use). For every query, lexical (BM25) scores against every current
passage are one sparse matrix product; dense candidates come from the vector index (Chroma), queried with
all clause vectors in a few batches: each clause's nearest passages keep their exact similarity, the rest
rank below its last candidate. Both are standardized per clause (the dense mean and spread measured on a
sample of the workspace's vectors, all of them in a small workspace) and pooled per document (mean of the
two best passages). Whole-document BM25 and title similarity complete the evidence the scorer combines.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from rag.context import Context
from rag.corpus import Corpus, load_passages, sync_index
from rag.index import passage_document
from rag.models import Clause, Passage

__all__ = ["Corpus", "Signals", "load_passages", "retrieve"]  # Corpus and load_passages belong to rag.corpus

VARIANTS = ("full", "keywords", "policy")
SAMPLE = 4096  # passage vectors that measure each clause's similarity distribution
BLOCK = 128  # clauses scored at once: bounds the clause x passage matrices alive at a time


# --- lexical --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), show_progress=False, return_ids=False)


class LexicalIndex:
    """BM25 (bm25s) weights as a sparse term x text matrix, so all clause queries score in one product."""

    def __init__(self, texts: list[str] | None = None, k1: float = 1.2, b: float = 0.75,
                 tokens: list[list[str]] | None = None) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        tokens = tokens if tokens is not None else tokenize(texts or [])
        self.vocab = {t: i for i, t in enumerate(sorted({t for doc in tokens for t in doc}))}
        retriever = bm25s.BM25(k1=k1, b=b)
        ids = [[self.vocab[t] for t in doc] for doc in tokens]
        retriever.index(bm25s.tokenization.Tokenized(ids=ids, vocab=self.vocab), show_progress=False)
        s = retriever.scores
        self.weights = sp.csr_matrix((s["data"], s["indices"], s["indptr"]),
                                     shape=(len(s["indptr"]) - 1, s["num_docs"]))

    def query_matrix(self, queries: list[str] | list[list[str]]) -> sp.csr_matrix:
        rows, cols, vals = [], [], []
        n_terms = self.weights.shape[0]
        tokenized = queries if queries and isinstance(queries[0], list) else tokenize(queries)
        for r, tokens in enumerate(tokenized):
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

    def scores(self, queries: list[str] | list[list[str]]) -> np.ndarray:
        return np.asarray((self.query_matrix(queries) @ self.weights).todense(), dtype=np.float32)


# --- signals --------------------------------------------------------------------------------------------


def standardize(m: np.ndarray, inplace: bool = False) -> np.ndarray:
    """Per row (clause): subtract the mean, divide by the standard deviation (in `m` itself with `inplace`:
    clause x passage matrices are large)."""
    mean = m.mean(axis=1, keepdims=True)
    std = np.maximum(m.std(axis=1, keepdims=True), 1e-6)
    if not inplace:
        return (m - mean) / std
    m -= mean
    m /= std
    return m


def clause_queries(clause: Clause) -> dict[str, str]:
    return {"full": clause.query_text(),
            "keywords": f"{clause.title}\n{', '.join(clause.keywords)}",
            "policy": f"{clause.title}\n{clause.policy_language or clause.description}"}


@dataclass
class Signals:
    """Evidence of every clause against every document of a corpus."""

    clauses: list[Clause]
    corpus: Corpus
    documents: np.ndarray  # document ids, one column each
    segments: list[tuple[int, int]]  # passage index range of each document column
    pooled: dict[str, np.ndarray]  # clause x document, passage evidence pooled (standardized per clause)
    whole: dict[str, np.ndarray]  # clause x document, whole-document BM25 (raw)
    title: dict[str, np.ndarray]  # clause x document, similarity to the document title (raw)
    passage: np.ndarray  # clause x passage, fused standardized lexical + dense (choosing what to cite)
    tokens: np.ndarray  # words per document

    @property
    def n_documents(self) -> int:
        return len(self.documents)


def _segments(doc_ids: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Passages are ordered by document: the document ids in order and each one's passage range."""
    if len(doc_ids) == 0:
        return np.zeros(0, dtype=np.int64), []
    starts = np.concatenate([[0], np.nonzero(np.diff(doc_ids))[0] + 1])
    ends = np.concatenate([starts[1:], [len(doc_ids)]])
    return doc_ids[starts], list(zip(starts.tolist(), ends.tolist()))


def pool_top2(m: np.ndarray, segments: list[tuple[int, int]]) -> np.ndarray:
    """Per document: the mean of its two best passages (its only passage when it has one)."""
    out = np.empty((m.shape[0], len(segments)), dtype=np.float32)
    for j, (s, e) in enumerate(segments):
        sub = m[:, s:e]
        out[:, j] = sub[:, 0] if e - s == 1 else np.partition(sub, -2, axis=1)[:, -2:].mean(axis=1)
    return out


def _context_tokens(corpus: Corpus) -> list[list[str]]:
    """Tokens of each passage's document title and heading path, tokenizing each distinct one once."""
    keys = [(corpus.titles.get(p.document_id, ""), tuple(p.heading_path)) for p in corpus.passages]
    distinct = sorted(set(keys))
    texts = [passage_document(Passage(id="", document_sha256="", seq=0, start=0, end=0, text="",
                                      heading_path=list(h)), t) for t, h in distinct]
    tokens = dict(zip(distinct, tokenize(texts)))
    return [tokens[k] for k in keys]


def dense_scores(ctx: Context, workspace: str, position: dict[str, int], qvecs: np.ndarray, sample: np.ndarray
                 ) -> np.ndarray:
    """Clause x passage standardized similarity: exact for each clause's nearest passages in the vector index,
    the clause's last candidate's similarity for every other passage (`position`: passage id -> column)."""
    reference = qvecs @ sample.T
    out = np.empty((len(qvecs), len(position)), dtype=np.float32)
    for row, (ids, sims) in enumerate(ctx.index.nearest(workspace, qvecs, ctx.settings.dense_candidates)):
        out[row] = sims[-1] if len(sims) else reference[row].min(initial=0.0)
        keep = [(position[i], x) for i, x in zip(ids, sims) if i in position]
        if keep:
            cols, values = zip(*keep)
            out[row, list(cols)] = values
    out -= reference.mean(axis=1, keepdims=True)
    out /= np.maximum(reference.std(axis=1, keepdims=True), 1e-6)
    return out


def _sample_vectors(ctx: Context, workspace: str, corpus: Corpus) -> np.ndarray:
    step = max(1, -(-len(corpus.passages) // SAMPLE))
    return ctx.index.vectors(workspace, [p.id for p in corpus.passages[::step]])


def _lexical_indexes(corpus: Corpus, segments: list[tuple[int, int]]) -> tuple[LexicalIndex, LexicalIndex]:
    """BM25 over passages (with their title and headings) and over whole documents. The token lists, the
    largest objects of a run, are dropped as soon as the indexes are built."""
    raw = tokenize([p.text for p in corpus.passages])
    context = _context_tokens(corpus)  # title and heading path, which every passage is indexed under
    lexical = LexicalIndex(tokens=[c + r for c, r in zip(context, raw)])
    del context
    return lexical, LexicalIndex(tokens=[[t for i in range(s, e) for t in raw[i]] for s, e in segments])


def retrieve(ctx: Context, workspace: str, clauses: list[Clause], corpus: Corpus | None = None) -> Signals:
    corpus = corpus or load_passages(ctx, workspace)
    documents, segments = _segments(corpus.document_ids)
    n_c, n_d, n_p = len(clauses), len(documents), len(corpus.passages)
    empty = Signals(clauses, corpus, documents, segments, {}, {}, {}, np.zeros((n_c, n_p), np.float32),
                    np.zeros(n_d))
    if not n_p or not n_c:
        return empty
    sync_index(ctx, workspace, corpus=corpus)
    titles = [corpus.titles.get(int(d), "") + " " + corpus.names.get(int(d), "").rsplit(".", 1)[0].replace("-", " ")
              for d in documents]
    lexical, whole_lexical = _lexical_indexes(corpus, segments)
    title_lexical = LexicalIndex(tokens=tokenize(titles))
    sample = _sample_vectors(ctx, workspace, corpus)
    title_vecs = ctx.embeddings.embed_array(titles)
    queries = {v: [clause_queries(c)[v] for c in clauses] for v in VARIANTS}
    query_tokens = {v: tokenize(q) for v, q in queries.items()}
    signals = empty
    signals.tokens = np.array([sum(len(corpus.passages[i].text.split()) for i in range(s, e)) for s, e in segments])
    position = {p.id: i for i, p in enumerate(corpus.passages)}
    for variant in VARIANTS:
        qvecs = ctx.index.clause_vectors(ctx.catalog.version, clauses, queries[variant], variant)
        pooled = {"lexical": [], "dense": []}
        for b in range(0, n_c, BLOCK):  # every step is per clause, so blocks of clauses give the same numbers
            lex = standardize(lexical.scores(query_tokens[variant][b:b + BLOCK]), inplace=True)
            dense = dense_scores(ctx, workspace, position, qvecs[b:b + BLOCK], sample)
            pooled["lexical"].append(pool_top2(lex, segments))
            pooled["dense"].append(pool_top2(dense, segments))
            if variant == "full":
                lex += dense
                signals.passage[b:b + BLOCK] = lex
            del lex, dense
        for kind, blocks in pooled.items():
            signals.pooled[f"{variant}.{kind}"] = np.vstack(blocks)
        signals.whole[variant] = whole_lexical.scores(query_tokens[variant])
        if variant in ("full", "keywords"):
            signals.title[f"{variant}.dense"] = qvecs @ title_vecs.T
            if variant == "keywords":
                signals.title[f"{variant}.lexical"] = title_lexical.scores(query_tokens[variant])
    return signals
