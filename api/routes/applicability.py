"""Not applicable: clauses a person marked as not applying to the organization, with the reason (audited)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ContextDep, ReviewerIn, ViewerIn
from api.schemas import DecisionCreate, NotApplicableCreate, NotApplicablePublic
from rag import applicability

router = APIRouter(prefix="/api/workspaces/{workspace}/not-applicable", tags=["proposals"])


@router.get("", response_model=list[NotApplicablePublic])
def list_marked(access: ViewerIn, ctx: ContextDep) -> list[NotApplicablePublic]:
    """Every clause marked not applicable, with who decided it, when and why. Role: viewer."""
    return applicability.list_not_applicable(ctx, access.workspace)


@router.put("/{framework}/{clause_id}", response_model=NotApplicablePublic)
def mark(framework: str, clause_id: str, body: NotApplicableCreate, access: ReviewerIn, ctx: ContextDep
         ) -> NotApplicablePublic:
    """Mark a clause not applicable (a reason is required); it stops counting as a gap. Role: reviewer."""
    return applicability.mark_not_applicable(ctx, access.workspace, framework, clause_id, body.reason, access.actor)


@router.delete("/{framework}/{clause_id}", status_code=204)
def clear(framework: str, clause_id: str, access: ReviewerIn, ctx: ContextDep, body: DecisionCreate | None = None
          ) -> None:
    """The clause applies again. Role: reviewer."""
    applicability.clear_not_applicable(ctx, access.workspace, framework, clause_id, access.actor,
                                       body.comment if body else "")
