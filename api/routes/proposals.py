"""Proposals: the review queue (filters, search, natural clause order, pages with a true total, live counts),
the candidates of one clause side by side, one proposal with its clause, the cited text in context and its
decision history, and a person's decisions, one at a time or in bulk. Approving one proposes the same
evidence for crosswalk-linked clauses (still proposals, awaiting a person)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from api.deps import ContextDep, ReviewerIn, ViewerIn
from api.routes.documents import text_window
from api.schemas import (BulkDecisionCreate, BulkResultPublic, ClauseCandidatesPublic, ClausePublic, CitationPublic,
                         DecisionCreate, DecisionPublic, DecisionResultPublic, ProposalDetailPublic,
                         ProposalPagePublic, ProposalPublic, ProposalUpdate, QueueCountPublic, QueueFilterIn)
from rag import queue, review, workflows
from rag.applicability import list_not_applicable
from rag.context import Context
from rag.models import Action, Coverage, Proposal

router = APIRouter(prefix="/api/workspaces/{workspace}/proposals", tags=["proposals"])


def as_json(model: BaseModel) -> Response:
    """The response, serialized once. Returning the model itself would have FastAPI validate it again against
    the route's `response_model` (on a thread of its own for a sync route) before serializing it; the route's
    `response_model` still documents it. Used on the routes a reviewer calls for every decision."""
    return Response(model.model_dump_json(), media_type="application/json")


def proposal_public(ctx: Context, p: Proposal) -> ProposalPublic:
    return ProposalPublic(**_proposal_fields(ctx, p))


def _proposal_fields(ctx: Context, p: Proposal) -> dict:
    clause = ctx.catalog.find(p.framework, p.clause_id)
    return dict(
        id=p.id, framework=p.framework, clause_id=p.clause_id, clause_title=clause.title if clause else "",
        document_id=p.document_id, document_name=p.document_name, document_sha256=p.document_sha256,
        status=p.status.value, confidence=p.confidence, score=p.score, coverage=p.coverage.value,
        method=p.method.value, rationale=p.rationale, model=p.model, prompt_version=p.prompt_version,
        corpus_version=p.corpus_version, origin_proposal_id=p.origin_proposal_id, drift=p.drift,
        citations=[CitationPublic.model_validate(c) for c in p.citations], flags=p.flags, updated_at=p.updated_at)


def _filter(ctx: Context, framework: str | None, status: str | None, document_id: int | None,
            clause_id: str | None, area: str | None, method: str | None, min_confidence: float | None,
            max_confidence: float | None, search: str | None) -> queue.Filter:
    return queue.Filter(framework=ctx.catalog.key(framework) if framework else None, status=status,
                        document_id=document_id, clause_id=clause_id, area=area, method=method,
                        min_confidence=min_confidence, max_confidence=max_confidence, search=search)


FilterQuery = Annotated[QueueFilterIn, Query()]
SortQuery = Annotated[str, Query(pattern=r"^-?(clause|confidence|document|status)$",
                                 description="clause (natural order), confidence, document or status; "
                                             "a leading - reverses it")]


def _page(ctx: Context, workspace: str, f: QueueFilterIn, sort: str, limit: int, offset: int) -> queue.Page:
    return queue.page(ctx, workspace, _filter(ctx, **f.model_dump()), sort, limit, offset)


@router.get("", response_model=list[ProposalPublic])
def list_proposals(access: ViewerIn, ctx: ContextDep, response: Response, f: FilterQuery, sort: SortQuery = "clause",
                   limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                   offset: Annotated[int, Query(ge=0)] = 0) -> list[ProposalPublic]:
    """Proposals of the workspace, filtered, searched and sorted (clauses in natural order). The headers
    X-Total-Count and X-Next-Offset say how many match in all and where the next page starts. Role: viewer."""
    page = _page(ctx, access.workspace, f, sort, limit, offset)
    response.headers["X-Total-Count"] = str(page.total)
    if page.next_offset is not None:
        response.headers["X-Next-Offset"] = str(page.next_offset)
    return [proposal_public(ctx, p) for p in page.items]


@router.get("/page", response_model=ProposalPagePublic)
def proposal_page(access: ViewerIn, ctx: ContextDep, f: FilterQuery, sort: SortQuery = "clause",
                  limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                  offset: Annotated[int, Query(ge=0)] = 0) -> ProposalPagePublic:
    """One page of the queue with the true total and the live counts per framework. Role: viewer."""
    page = _page(ctx, access.workspace, f, sort, limit, offset)
    return ProposalPagePublic(items=[proposal_public(ctx, p) for p in page.items], total=page.total,
                              offset=page.offset, limit=page.limit, next_offset=page.next_offset,
                              counts=queue.counts(ctx, access.workspace))


@router.get("/counts", response_model=list[QueueCountPublic])
def proposal_counts(access: ViewerIn, ctx: ContextDep) -> list[QueueCountPublic]:
    """To review, approved, rejected and not applicable, per framework. Role: viewer."""
    return queue.counts(ctx, access.workspace)


@router.post("/bulk", response_model=BulkResultPublic)
def bulk(body: BulkDecisionCreate, access: ReviewerIn, ctx: ContextDep) -> BulkResultPublic:
    """One decision on many proposals: the chosen `ids`, or all that match `filter` now. Each is its own audited
    decision; the result says how many were decided and how many skipped, and why. Role: reviewer."""
    where = _filter(ctx, **body.filter.model_dump()) if body.filter is not None else None
    result = queue.decide_many(ctx, access.workspace, Action(body.action), access.actor, body.comment,
                               ids=body.ids, where=where, seen=body.seen)
    return BulkResultPublic(**result.as_dict(), counts=queue.counts(ctx, access.workspace))


@router.get("/clause/{framework}/{clause_id}", response_model=ClauseCandidatesPublic)
def clause_candidates(framework: str, clause_id: str, access: ViewerIn, ctx: ContextDep) -> ClauseCandidatesPublic:
    """Every candidate passage of one clause side by side, and whether it is marked not applicable. Role: viewer."""
    clause = ctx.catalog.clause(framework, clause_id)
    marked = next((na for na in list_not_applicable(ctx, access.workspace)
                   if (na["framework"], na["clause_id"]) == (clause.framework, clause.id)), None)
    return ClauseCandidatesPublic(clause=ClausePublic.model_validate(clause), not_applicable=marked,
                                  candidates=[proposal_public(ctx, p) for p in
                                              queue.clause_view(ctx, access.workspace, clause.framework, clause.id)])


@router.get("/{proposal_id}", response_model=ProposalDetailPublic)
def get_proposal(proposal_id: int, access: ViewerIn, ctx: ContextDep,
                 context: Annotated[int, Query(ge=0, le=5000, description="characters around each quote")] = 600
                 ) -> Response:
    """One proposal with its clause, each cited quote in its document context, the decisions made on it and
    the proposals its approval suggested. Role: viewer."""
    return as_json(proposal_detail(ctx, access, proposal_id, context))


def proposal_detail(ctx: Context, access, proposal_id: int, context: int) -> ProposalDetailPublic:
    """What a reviewer sees on opening a proposal (`context`: characters shown around each quote)."""
    d = review.detail(ctx, access.workspace, proposal_id)
    p = d.proposal
    contexts = [text_window(c.document_sha256, d.texts[c.document_sha256], c.start, c.end, context)
                for c in p.citations]
    return ProposalDetailPublic(
        **_proposal_fields(ctx, p), clause=ClausePublic.model_validate(ctx.catalog.clause(p.framework, p.clause_id)),
        contexts=contexts, decisions=[DecisionPublic(**x.model_dump(mode="json", exclude={"proposal_id"}))
                                      for x in d.decisions],
        derived=[proposal_public(ctx, x) for x in d.derived])


def _decide(ctx: Context, access, proposal_id: int, action: Action, comment: str,
            edit: review.Edit | None = None) -> Response:
    return as_json(decision_result(ctx, access, proposal_id, action, comment, edit))


def decision_result(ctx: Context, access, proposal_id: int, action: Action, comment: str,
                    edit: review.Edit | None = None) -> DecisionResultPublic:
    decided = workflows.decide(ctx, access.workspace, proposal_id, access.actor, action, comment, edit)
    return DecisionResultPublic(proposal=proposal_public(ctx, decided.proposal),
                                propagated=[proposal_public(ctx, d) for d in decided.propagated],
                                unchanged=bool(decided.skipped),
                                note=f"{decided.skipped}: nothing recorded" if decided.skipped else None)


@router.post("/{proposal_id}/approve", response_model=DecisionResultPublic)
def approve(proposal_id: int, body: DecisionCreate, access: ReviewerIn, ctx: ContextDep) -> Response:
    """Approve; crosswalk-linked clauses get the same evidence as new proposals. Role: reviewer."""
    return _decide(ctx, access, proposal_id, Action.approve, body.comment)


@router.post("/{proposal_id}/reject", response_model=DecisionResultPublic)
def reject(proposal_id: int, body: DecisionCreate, access: ReviewerIn, ctx: ContextDep) -> Response:
    """Reject. Role: reviewer."""
    return _decide(ctx, access, proposal_id, Action.reject, body.comment)


@router.post("/{proposal_id}/reopen", response_model=DecisionResultPublic)
def reopen(proposal_id: int, body: DecisionCreate, access: ReviewerIn, ctx: ContextDep) -> Response:
    """Send a decided proposal back to the queue. Role: reviewer."""
    return _decide(ctx, access, proposal_id, Action.reopen, body.comment)


@router.post("/{proposal_id}/settle", response_model=BulkResultPublic)
def settle(proposal_id: int, body: DecisionCreate, access: ReviewerIn, ctx: ContextDep) -> BulkResultPublic:
    """Approve this proposal and reject the other open candidates of its clause, each an audited decision.
    Role: reviewer."""
    p = review.get_proposal(ctx, access.workspace, proposal_id)
    result = queue.settle_clause(ctx, access.workspace, p.framework, p.clause_id, proposal_id, access.actor,
                                 body.comment)
    return BulkResultPublic(**result.as_dict(), counts=queue.counts(ctx, access.workspace))


@router.post("/{proposal_id}/edit", response_model=DecisionResultPublic)
def edit(proposal_id: int, body: ProposalUpdate, access: ReviewerIn, ctx: ContextDep) -> Response:
    """Change coverage, rationale or the cited quotes (each must occur verbatim in the document). Role: reviewer."""
    return _decide(ctx, access, proposal_id, Action.edit, body.comment, edit_of(body))


def edit_of(body: ProposalUpdate) -> review.Edit:
    return review.Edit(coverage=Coverage(body.coverage) if body.coverage else None, rationale=body.rationale,
                       quotes=body.quotes)
