"""Propose mappings: for every assessable clause of the chosen frameworks, the documents whose passages
satisfy it, each with a confidence, a coverage judgment and verified citations; clauses with nothing above
the operating threshold are gaps. With a judge (rag.judge), the judge sees document-first candidates and its
verdicts are combined with the offline confidence by one formula (`combine`), which ranks each clause's
documents and decides which judged proposals are kept. Proposals are only ever proposals: approval is a
person's decision."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from rag import citations as cites
from rag.context import Context
from rag.models import Clause, Coverage, Gap, Method, Passage, Proposal
from rag.retrieve import Signals, retrieve
from rag.score import DocumentEvidence, ScorerModel, default_model, document_evidence

Progress = Callable[[str, int, int], None]


class Ranking(Sequence):
    """A clause's documents, best first, each as (document id, confidence). Kept as two arrays rather than a
    tuple per document: a run over 5,000 documents and 326 clauses would otherwise hold 1.6 million tuples
    (about 175 MB) for as long as the run lives."""

    __slots__ = ("documents", "confidence")

    def __init__(self, documents: np.ndarray, confidence: np.ndarray) -> None:
        self.documents = np.asarray(documents, dtype=np.int64)
        self.confidence = np.asarray(confidence, dtype=np.float32)

    @classmethod
    def of(cls, documents: np.ndarray, confidence: np.ndarray) -> "Ranking":
        """`documents` ordered by `confidence` (one value per document), highest first."""
        order = np.argsort(-confidence)
        return cls(documents[order], confidence[order])

    def __len__(self) -> int:
        return len(self.documents)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return list(zip(self.documents[i].tolist(), self.confidence[i].tolist()))
        return int(self.documents[i]), float(self.confidence[i])

    def __iter__(self):
        return zip(self.documents.tolist(), self.confidence.tolist())


@dataclass
class MappingRun:
    run_id: str
    workspace: str
    frameworks: list[str]
    proposals: list[Proposal] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    rankings: dict[str, Ranking] = field(default_factory=dict)  # clause key -> its documents, best first
    stats: dict = field(default_factory=dict)


@dataclass
class Candidate:
    """A passage put before a judge for one clause: its text, where it sits, and the offline scores
    (`fused`: the passage's evidence; `confidence`: its document's offline confidence for the clause)."""

    passage: Passage
    document_name: str
    version_text: str
    fused: float
    confidence: float


@dataclass
class JudgeItem:
    """One clause for the judge: its candidates, best first, and what the offline scorer proposes. The judge
    records its verdict per document in `verdicts` (document id -> satisfies / partial / does_not)."""

    clause: Clause
    candidates: list[Candidate]
    offline: list[Proposal]
    verdicts: dict[int, str] = field(default_factory=dict)


# How a judge's verdicts move the offline evidence: the one formula that combines judge and offline evidence,
# for ranking and for proposals. A document's verdict for a clause (a positive one counts only with a verified
# quote) adds its log-odds to the log-odds of the offline confidence, and so, at FAMILY_VERDICT_WEIGHT, does the
# mean verdict on the same document for the clause's siblings (policies answer families of requirements).
# Chosen leave-one-dataset-out with simulated judges (evals/REPORT.md, `python -m evals.judge_point`).
VERDICT_LOG_ODDS = {"satisfies": 3.0, "partial": 1.5, "does_not": -3.0}
FAMILY_VERDICT_WEIGHT = 0.5
JUDGED_THRESHOLD = 0.35  # a document the judge found evidence in is proposed when its combined confidence reaches this


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def combine(offline: np.ndarray, verdicts: np.ndarray, family: np.ndarray | None = None,
            family_weight: float | None = None) -> np.ndarray:
    """Clause x document confidence from the offline confidence and the verdicts' log-odds (0: no verdict)."""
    family_weight = FAMILY_VERDICT_WEIGHT if family_weight is None else family_weight
    z = _logit(offline) + verdicts
    if family is not None and family_weight:
        z = z + family_weight * (family @ verdicts)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def judged_confidence(offline: float, verdict: str | None) -> float:
    """`combine` for one clause and document, without the siblings' verdicts (the judge's provisional figure)."""
    return float(combine(np.array([offline]), np.array([VERDICT_LOG_ODDS.get(verdict, 0.0)]))[0])


class Judge(Protocol):
    """Turns candidates into proposals (e.g. a language model judging them), recording its verdict per
    document in each item's `verdicts`. It only ever proposes."""

    def review(self, items: list[JudgeItem], progress: Progress | None = None) -> dict[str, list[Proposal]]: ...


def candidates(signals: Signals, evidence: DocumentEvidence, c: int, documents: int, per_document: int = 1
               ) -> list[Candidate]:
    """Document first: the best `per_document` passages of each of the clause's top `documents` documents in
    the offline ranking, best document first (the judge then packs them into its token allowance)."""
    corpus, out = signals.corpus, []
    for j in np.argsort(-evidence.confidence[c])[:documents]:
        for i in evidence.best_passages(c, int(j), per_document):
            p = corpus.passages[i]
            if p.hidden:
                continue
            out.append(Candidate(p, corpus.names.get(p.document_id, ""), corpus.texts[p.document_sha256],
                                 float(evidence.passage[c, i]), float(evidence.confidence[c, j])))
    return out


def assessable_clauses(ctx: Context, frameworks: list[str]) -> list[Clause]:
    return [c for key in frameworks for c in ctx.catalog.framework(key).assessable()]


def with_neighbours(catalog, clauses: list[Clause]) -> list[Clause]:
    """The clauses asked for first, then the other assessable clauses of their frameworks and the assessable
    clauses crosswalks link them to: the scorer lets each clause borrow evidence from these neighbours."""
    out = {c.key: c for c in clauses}
    for key in dict.fromkeys(c.framework for c in clauses):
        out.update({c.key: c for c in catalog.framework(key).assessable() if c.key not in out})
    for clause in list(out.values()):
        out.update({r.key: r for r in catalog.related(clause.framework, clause.id)
                    if r.assessable and r.key not in out})
    return list(out.values())


def propose(ctx: Context, workspace: str, frameworks: list[str], *, clauses: list[Clause] | None = None,
            model: ScorerModel | None = None, progress: Progress | None = None,
            judge: Judge | None = None) -> MappingRun:
    model = model or default_model()
    clauses = clauses if clauses is not None else assessable_clauses(ctx, frameworks)
    run = MappingRun(run_id=uuid.uuid4().hex[:16], workspace=workspace, frameworks=frameworks)
    if progress:
        progress("retrieve", 0, len(clauses))
    signals = retrieve(ctx, workspace, with_neighbours(ctx.catalog, clauses))  # rows 0..len(clauses)-1 asked for
    evidence = document_evidence(signals, model, ctx.catalog)
    if progress:
        progress("retrieve", len(clauses), len(clauses))
    offline: dict[str, list[Proposal]] = {}
    for c, clause in enumerate(clauses):
        order = np.argsort(-evidence.confidence[c])
        run.rankings[clause.key] = Ranking(evidence.documents[order], evidence.confidence[c, order])
        chosen = [j for j in order[:ctx.settings.max_proposals_per_clause]
                  if evidence.confidence[c, j] >= model.threshold]
        offline[clause.key] = [p for p in (_proposal(ctx, signals, evidence, model, c, int(j), run) for j in chosen)
                               if p is not None]
    if judge is not None:
        items = [JudgeItem(clause, candidates(signals, evidence, c, ctx.settings.judge_documents,
                                              ctx.settings.judge_passages_per_document),
                           offline[clause.key]) for c, clause in enumerate(clauses)]
        offline = {**offline, **_judged(ctx, items, judge.review(items, progress), evidence, run)}
    for c, clause in enumerate(clauses):
        made = [p for p in offline.get(clause.key, []) if p.citations]
        run.proposals += made
        if not made:
            ranking = run.rankings[clause.key]
            best_doc, best_conf = ranking[0] if ranking else (None, 0.0)
            run.gaps.append(Gap(framework=clause.framework, clause_id=clause.id, title=clause.title,
                                best_document=signals.corpus.names.get(best_doc), best_confidence=best_conf))
    run.stats = {"clauses": len(clauses), "passages": len(signals.corpus.passages),
                 "documents": len(signals.corpus.names), "proposals": len(run.proposals), "gaps": len(run.gaps),
                 "scorer": model.version, "corpus_version": ctx.catalog.version}
    if judge is not None and hasattr(judge, "usage_summary"):
        usage = judge.usage_summary()
        run.stats.update(model=usage.get("model"), prompt_version=usage.get("prompt_version"),
                         llm={k: v for k, v in usage.items() if k not in ("model", "prompt_version")})
    return run


def _judged(ctx: Context, items: list[JudgeItem], judged: dict[str, list[Proposal]], evidence: DocumentEvidence,
            run: MappingRun) -> dict[str, list[Proposal]]:
    """Rank every judged clause's documents by the combined evidence, and keep (re-scored by it) the judge's
    proposals whose combined confidence reaches JUDGED_THRESHOLD; fallbacks (offline proposals) stay as they are."""
    from rag.score import neighbours

    col = {int(d): j for j, d in enumerate(evidence.documents)}
    verdicts = np.zeros((len(items), len(col)), dtype=np.float32)
    for c, item in enumerate(items):
        for doc, verdict in item.verdicts.items():
            verdicts[c, col[doc]] = VERDICT_LOG_ODDS[verdict]
    family = neighbours([item.clause for item in items], ctx.catalog)[0] if items else None
    combined = combine(evidence.confidence[:len(items)], verdicts, family)
    out = {}
    for c, item in enumerate(items):
        run.rankings[item.clause.key] = Ranking.of(evidence.documents, combined[c])
        made = []
        for p in judged.get(item.clause.key, item.offline):
            if p.method != Method.llm:
                made.append(p)
                continue
            confidence = float(combined[c, col[p.document_id]])
            if confidence >= JUDGED_THRESHOLD:
                made.append(p.model_copy(update={"confidence": round(confidence, 4)}))
        made.sort(key=lambda p: -p.confidence)
        out[item.clause.key] = made[:ctx.settings.max_proposals_per_clause]
    return out


def _proposal(ctx: Context, signals: Signals, evidence: DocumentEvidence, model: ScorerModel, c: int, j: int,
              run: MappingRun) -> Proposal | None:
    clause = signals.clauses[c]
    corpus = signals.corpus
    terms = cites.query_terms(clause.query_text())
    passage_idx = evidence.best_passages(c, j, ctx.settings.citations_per_proposal)
    top = evidence.passage[c, passage_idx[0]] if passage_idx else 0.0
    made = []
    for k, i in enumerate(passage_idx):
        if k and evidence.passage[c, i] < top - 1.0:  # a second citation only when it is nearly as strong
            break
        passage = corpus.passages[i]
        text = corpus.texts[passage.document_sha256]
        span = cites.best_span(passage, text, terms)
        if span is not None:  # None: the passage holds nothing but template placeholders
            made.append(cites.cite(passage, text, *span, corpus.names.get(passage.document_id)))
    if not made:
        return None
    confidence = float(evidence.confidence[c, j])
    first = corpus.passages[passage_idx[0]]
    return Proposal(
        workspace=run.workspace, framework=clause.framework, clause_id=clause.id, document_id=first.document_id,
        document_name=corpus.names.get(first.document_id, ""), document_sha256=first.document_sha256,
        citations=made, score=float(evidence.scores[c, j]), confidence=round(confidence, 4),
        coverage=Coverage.full if confidence >= model.full_threshold else Coverage.partial,
        rationale=_rationale(clause, made, confidence), method=Method.offline,
        corpus_version=ctx.catalog.version, run_id=run.run_id, model=f"scorer:{model.version}")


def _rationale(clause: Clause, made: list, confidence: float) -> str:
    where = "; ".join(" > ".join(c.heading_path[-2:]) or "(untitled section)" for c in made)
    return (f"Lexical and semantic match to {clause.id} ({clause.title}) in section {where}; "
            f"confidence {confidence:.2f}. Offline retrieval: a reviewer must confirm the passage meets the clause.")
