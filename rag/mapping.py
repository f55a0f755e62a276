"""Propose mappings: for every assessable clause of the chosen frameworks, the documents whose passages
satisfy it, each with a confidence, a coverage judgment and verified citations; clauses with nothing above
the operating threshold are gaps. Proposals are only ever proposals: approval is a person's decision."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from rag import citations as cites
from rag.context import Context
from rag.models import Clause, Coverage, Gap, Method, Passage, Proposal
from rag.retrieve import Signals, retrieve
from rag.score import DocumentEvidence, ScorerModel, default_model, document_evidence

Progress = Callable[[str, int, int], None]


@dataclass
class MappingRun:
    run_id: str
    workspace: str
    frameworks: list[str]
    proposals: list[Proposal] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    rankings: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # clause key -> (doc, conf)
    stats: dict = field(default_factory=dict)


@dataclass
class Candidate:
    """A passage put before a judge for one clause: its text, where it sits, and the offline scores."""

    passage: Passage
    document_name: str
    version_text: str
    fused: float
    confidence: float


@dataclass
class JudgeItem:
    clause: Clause
    candidates: list[Candidate]
    offline: list[Proposal]  # what the offline scorer would propose for this clause


class Judge(Protocol):
    """Turns candidates into proposals (e.g. a language model judging them). It only ever proposes."""

    def review(self, items: list[JudgeItem], progress: Progress | None = None) -> dict[str, list[Proposal]]: ...


def candidates(signals: Signals, evidence: DocumentEvidence, c: int, limit: int, per_document: int = 2
               ) -> list[Candidate]:
    """The clause's strongest passages, at most `per_document` from any one document."""
    corpus, taken, out = signals.corpus, {}, []
    col = {int(d): j for j, d in enumerate(evidence.documents)}
    for i in np.argsort(-evidence.passage[c]):
        p = corpus.passages[int(i)]
        if taken.get(p.document_id, 0) >= per_document:
            continue
        taken[p.document_id] = taken.get(p.document_id, 0) + 1
        out.append(Candidate(p, corpus.names.get(p.document_id, ""), corpus.texts[p.document_sha256],
                             float(evidence.passage[c, i]), float(evidence.confidence[c, col[p.document_id]])))
        if len(out) >= limit:
            break
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
        run.rankings[clause.key] = [(int(evidence.documents[j]), float(evidence.confidence[c, j])) for j in order]
        chosen = [j for j in order[:ctx.settings.max_proposals_per_clause]
                  if evidence.confidence[c, j] >= model.threshold]
        offline[clause.key] = [p for p in (_proposal(ctx, signals, evidence, model, c, int(j), run) for j in chosen)
                               if p is not None]
    if judge is not None:
        items = [JudgeItem(clause, candidates(signals, evidence, c, ctx.settings.judge_candidates),
                           offline[clause.key]) for c, clause in enumerate(clauses)]
        offline = {**offline, **judge.review(items, progress)}
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
