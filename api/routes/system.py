"""Health (the one route open without a key) and who the caller is."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ContextDep, Viewer, visible_workspaces
from api.schemas import HealthPublic, MePublic
from rag import __version__

router = APIRouter(tags=["system"])


@router.get("/health", response_model=HealthPublic)
def health() -> HealthPublic:
    """Liveness: answers without a key and reveals nothing about any workspace."""
    return HealthPublic(status="ok", version=__version__)


@router.get("/api/me", response_model=MePublic)
def me(principal: Viewer, ctx: ContextDep) -> MePublic:
    """The caller's role, its bound workspace (if any) and the workspaces it can see. Role: viewer."""
    return MePublic(actor=principal.actor, role=principal.role, workspace=principal.workspace,
                    workspaces=visible_workspaces(ctx, principal))
