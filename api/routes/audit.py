"""The audit trail: a workspace's events, and (for a global admin) verification of the whole chain, the
events that belong to no workspace, and the counters of refused requests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import ContextDep, GlobalAdmin, ViewerIn
from api.schemas import AuditEventPublic, DeniedPublic, VerificationPublic
from rag import audit, denials
from rag.auth import SYSTEM

router = APIRouter(tags=["audit"])
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]


@router.get("/api/workspaces/{workspace}/audit", response_model=list[AuditEventPublic])
def workspace_events(access: ViewerIn, ctx: ContextDep, limit: Limit = 100, offset: Offset = 0) -> list[dict]:
    """The workspace's audit events, newest first. Role: viewer."""
    return audit.read_events(ctx, access.workspace, limit, offset)


@router.get("/api/audit/verify", response_model=VerificationPublic)
def verify(principal: GlobalAdmin, ctx: ContextDep) -> VerificationPublic:
    """Recompute the hash chain; names the first event that was altered, removed or reordered.
    Role: admin, with a key not bound to a workspace."""
    result = audit.verify_store(ctx)
    return VerificationPublic(**result.__dict__)


@router.get("/api/audit/system", response_model=list[AuditEventPublic])
def system_events(principal: GlobalAdmin, ctx: ContextDep, limit: Limit = 100, offset: Offset = 0) -> list[dict]:
    """Events outside any workspace (global keys, sign-ins with them), newest first.
    Role: admin, with a key not bound to a workspace."""
    return audit.read_events(ctx, SYSTEM, limit, offset)


@router.get("/api/audit/denied", response_model=list[DeniedPublic])
def denied_requests(principal: GlobalAdmin, ctx: ContextDep, request: Request, limit: Limit = 100) -> list[dict]:
    """Refused requests counted per client, outcome and minute, newest first (kept apart from the audit chain
    and pruned after the retention period). Role: admin, with a key not bound to a workspace."""
    request.app.state.denials.flush()
    return denials.recent(ctx, limit)
