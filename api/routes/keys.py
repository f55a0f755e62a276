"""API keys: admins create, list and revoke them. A workspace admin manages only its workspace's keys."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Admin, ContextDep, check_access
from api.schemas import KeyCreate, KeyCreatedPublic, KeyPublic
from rag import auth
from rag.errors import Forbidden

router = APIRouter(prefix="/api/keys", tags=["keys"])


@router.get("", response_model=list[KeyPublic])
def list_keys(principal: Admin, ctx: ContextDep) -> list[auth.KeyInfo]:
    """Keys (never the keys themselves). Role: admin; a workspace admin sees its workspace's keys only."""
    return auth.list_keys(ctx, principal.workspace)


@router.post("", response_model=KeyCreatedPublic, status_code=201)
def create_key(body: KeyCreate, principal: Admin, ctx: ContextDep) -> KeyCreatedPublic:
    """Create a key; the response holds it once. Role: admin (a workspace admin: for its workspace only)."""
    workspace = body.workspace if principal.workspace is None else (body.workspace or principal.workspace)
    if workspace is None and principal.workspace is not None:
        raise Forbidden("a workspace admin cannot create a key for all workspaces")
    if workspace is not None:
        check_access(ctx, principal, workspace)
    key, info = auth.create_key(ctx, body.role, workspace, body.name, actor=principal.actor)
    return KeyCreatedPublic(key=key, **info.__dict__)


@router.delete("/{key_id}", response_model=KeyPublic)
def revoke_key(key_id: int, principal: Admin, ctx: ContextDep) -> auth.KeyInfo:
    """Revoke a key at once. Role: admin (a workspace admin: its workspace's keys only)."""
    return auth.revoke_key(ctx, key_id, principal.actor, within=principal.workspace)
