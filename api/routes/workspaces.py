"""Workspaces: one per entity (tenant). Nothing of one is ever visible through another."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ContextDep, GlobalAdmin, Viewer, ViewerIn, record_event, visible_workspaces, workspace_exists
from api.schemas import WorkspaceCreate, WorkspacePublic
from rag.context import Context
from rag.errors import Conflict
from rag.corpus import document_count
from rag.review import status_counts

router = APIRouter(prefix="/api/workspaces", tags=["workspaces"])


def summary(ctx: Context, name: str) -> WorkspacePublic:
    return WorkspacePublic(name=name, documents=document_count(ctx, name), proposals=status_counts(ctx, name))


@router.get("", response_model=list[WorkspacePublic])
def list_workspaces(principal: Viewer, ctx: ContextDep) -> list[WorkspacePublic]:
    """The workspaces the key can see (a bound key: its own). Role: viewer."""
    return [summary(ctx, name) for name in visible_workspaces(ctx, principal)]


@router.post("", response_model=WorkspacePublic, status_code=201)
def create_workspace(body: WorkspaceCreate, principal: GlobalAdmin, ctx: ContextDep) -> WorkspacePublic:
    """Create a workspace. Role: admin, with a key not bound to a workspace."""
    if workspace_exists(ctx, body.name):
        raise Conflict(f"workspace {body.name} exists", target=f"workspace:{body.name}")
    ctx.workspace(body.name, create=True)
    record_event(ctx, workspace=body.name, actor=principal.actor, action="workspace.create",
                 target=f"workspace:{body.name}")
    return summary(ctx, body.name)


@router.get("/{workspace}", response_model=WorkspacePublic)
def get_workspace(access: ViewerIn, ctx: ContextDep) -> WorkspacePublic:
    """Document count and proposals by status. Role: viewer."""
    return summary(ctx, access.workspace)
