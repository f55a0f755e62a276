"""Proposals: the review queue (filter by framework, status, confidence), one proposal with its clause, the
cited text in context and its decision history, and a person's decisions. Approving one proposes the same
evidence for crosswalk-linked clauses (still proposals, awaiting a person)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import ContextDep, ReviewerIn, ViewerIn
from api.routes.documents import text_window
from api.schemas import (ClausePublic, CitationPublic, DecisionCreate, DecisionPublic, DecisionResultPublic,
                         ProposalDetailPublic, ProposalPublic, ProposalUpdate)
from rag import review, workflows
from rag.context import Context
from rag.documents import version_text
from rag.models import Action, Coverage, Proposal

router = APIRouter(prefix="/api/workspaces/{workspace}/proposals", tags=["proposals"])
StatusFilter = Literal["proposed", "approved", "rejected", "needs-review"]


def proposal_public(ctx: Context, p: Proposal) -> ProposalPublic:
    clause = ctx.catalog.find(p.framework, p.clause_id)
    return ProposalPublic(
        id=p.id, framework=p.framework, clause_id=p.clause_id, clause_title=clause.title if clause else "",
        document_id=p.document_id, document_name=p.document_name, document_sha256=p.document_sha256,
        status=p.status.value, confidence=p.confidence, score=p.score, coverage=p.coverage.value,
        method=p.method.value, rationale=p.rationale, model=p.model, prompt_version=p.prompt_version,
        corpus_version=p.corpus_version, origin_proposal_id=p.origin_proposal_id, drift=p.drift,
        citations=[CitationPublic.model_validate(c) for c in p.citations], flags=p.flags, updated_at=p.updated_at)


@router.get("", response_model=list[ProposalPublic])
def list_proposals(access: ViewerIn, ctx: ContextDep,
                   framework: str | None = None, status: StatusFilter | None = None,
                   min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
                   max_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
                   clause_id: str | None = None, document_id: int | None = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                   offset: Annotated[int, Query(ge=0)] = 0) -> list[ProposalPublic]:
    """Proposals of the workspace, by framework and clause, most confident first. Role: viewer."""
    items = review.list_proposals(ctx, access.workspace, framework=framework, status=status, clause_id=clause_id,
                                  document_id=document_id, min_confidence=min_confidence,
                                  max_confidence=max_confidence, limit=limit, offset=offset)
    return [proposal_public(ctx, p) for p in items]


@router.get("/{proposal_id}", response_model=ProposalDetailPublic)
def get_proposal(proposal_id: int, access: ViewerIn, ctx: ContextDep,
                 context: Annotated[int, Query(ge=0, le=5000, description="characters around each quote")] = 600
                 ) -> ProposalDetailPublic:
    """One proposal with its clause, each cited quote in its document context, the decisions made on it and
    the proposals its approval suggested. Role: viewer."""
    p = review.get_proposal(ctx, access.workspace, proposal_id)
    texts = {sha: version_text(ctx, access.workspace, sha) for sha in {c.document_sha256 for c in p.citations}}
    contexts = [text_window(c.document_sha256, texts[c.document_sha256], c.start, c.end, context)
                for c in p.citations]
    return ProposalDetailPublic(
        **proposal_public(ctx, p).model_dump(), clause=ClausePublic.model_validate(
            ctx.catalog.clause(p.framework, p.clause_id)), contexts=contexts,
        decisions=[DecisionPublic(**d.model_dump(mode="json", exclude={"proposal_id"})) for d in
                   review.history(ctx, access.workspace, proposal_id)],
        derived=[proposal_public(ctx, d) for d in review.derived(ctx, access.workspace, proposal_id)])


def _decide(ctx: Context, access, proposal_id: int, action: Action, comment: str,
            edit: review.Edit | None = None) -> DecisionResultPublic:
    decided = workflows.decide(ctx, access.workspace, proposal_id, access.actor, action, comment, edit)
    made = [d for d in review.derived(ctx, access.workspace, proposal_id) if d.id in decided.propagated]
    return DecisionResultPublic(proposal=proposal_public(ctx, decided.proposal),
                                propagated=[proposal_public(ctx, d) for d in made])


@router.post("/{proposal_id}/approve", response_model=DecisionResultPublic)
def approve(proposal_id: int, body: DecisionCreate, access: ReviewerIn, ctx: ContextDep) -> DecisionResultPublic:
    """Approve; crosswalk-linked clauses get the same evidence as new proposals. Role: reviewer."""
    return _decide(ctx, access, proposal_id, Action.approve, body.comment)


@router.post("/{proposal_id}/reject", response_model=DecisionResultPublic)
def reject(proposal_id: int, body: DecisionCreate, access: ReviewerIn, ctx: ContextDep) -> DecisionResultPublic:
    """Reject. Role: reviewer."""
    return _decide(ctx, access, proposal_id, Action.reject, body.comment)


@router.post("/{proposal_id}/reopen", response_model=DecisionResultPublic)
def reopen(proposal_id: int, body: DecisionCreate, access: ReviewerIn, ctx: ContextDep) -> DecisionResultPublic:
    """Send a decided proposal back to the queue. Role: reviewer."""
    return _decide(ctx, access, proposal_id, Action.reopen, body.comment)


@router.post("/{proposal_id}/edit", response_model=DecisionResultPublic)
def edit(proposal_id: int, body: ProposalUpdate, access: ReviewerIn, ctx: ContextDep) -> DecisionResultPublic:
    """Change coverage, rationale or the cited quotes (each must occur verbatim in the document). Role: reviewer."""
    change = review.Edit(coverage=Coverage(body.coverage) if body.coverage else None, rationale=body.rationale,
                         quotes=body.quotes)
    return _decide(ctx, access, proposal_id, Action.edit, body.comment, change)
