"""What every route depends on: the context, the caller (an `Authorization: Bearer` key, or the web sign-in
cookie), the role a route needs, and access to the workspace named in its path.

Checks run in a fixed order: no valid key is 401, too small a role is 403, a workspace the key is not bound
to is 403, a workspace that does not exist is 404. A workspace's data is only ever read through `Access`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi import Path as PathParam

from rag.auth import Principal, Role, authenticate, require
from rag.context import WORKSPACE_NAME, Context
from rag.errors import Forbidden, NotFound

COOKIE = "ctrlmap_key"
CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "ctrlmap"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_ctx(request: Request) -> Context:
    return request.app.state.ctx


ContextDep = Annotated[Context, Depends(get_ctx)]


def presented_key(request: Request) -> tuple[str | None, bool]:
    """The key a request carries and whether it came from the browser cookie."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    cookie = request.cookies.get(COOKIE)
    return (cookie, True) if cookie else (None, False)


def caller(request: Request, ctx: ContextDep) -> Principal:
    key, from_cookie = presented_key(request)
    principal = authenticate(ctx, key)
    request.state.principal = principal
    if from_cookie and request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != CSRF_VALUE:
        raise Forbidden("a change from the browser must carry X-Requested-With: ctrlmap (cross-site request refused)")
    return principal


def role(required: Role):
    def dependency(principal: Principal = Depends(caller)) -> Principal:
        return require(principal, required)

    dependency.__name__ = f"requires_{required.value}"
    return dependency


@dataclass(frozen=True)
class Access:
    """A caller cleared for one existing workspace."""

    principal: Principal
    workspace: str

    @property
    def actor(self) -> str:
        return self.principal.actor


def workspace_exists(ctx: Context, name: str) -> bool:
    if not WORKSPACE_NAME.match(name or ""):
        return False
    return ctx.store.has_workspace(name)


def check_access(ctx: Context, principal: Principal, workspace: str) -> Access:
    if not principal.sees(workspace):
        raise Forbidden("the key is bound to another workspace", target=f"workspace:{workspace[:64]}")
    if not workspace_exists(ctx, workspace):
        raise NotFound(f"no workspace {workspace[:64]!r}", target=f"workspace:{workspace[:64]}")
    return Access(principal, workspace)


def workspace_role(required: Role):
    def dependency(workspace: str = PathParam(description="Workspace (tenant) name."),
                   principal: Principal = Depends(role(required)), ctx: Context = Depends(get_ctx)) -> Access:
        return check_access(ctx, principal, workspace)

    dependency.__name__ = f"workspace_{required.value}"
    return dependency


def global_role(required: Role):
    """For actions over every workspace (creating workspaces, verifying the whole chain): unbound keys only."""

    def dependency(principal: Principal = Depends(role(required))) -> Principal:
        if principal.workspace is not None:
            raise Forbidden("this needs a key that is not bound to a workspace")
        return principal

    dependency.__name__ = f"global_{required.value}"
    return dependency


Viewer = Annotated[Principal, Depends(role(Role.viewer))]
Admin = Annotated[Principal, Depends(role(Role.admin))]
GlobalAdmin = Annotated[Principal, Depends(global_role(Role.admin))]
ViewerIn = Annotated[Access, Depends(workspace_role(Role.viewer))]
ReviewerIn = Annotated[Access, Depends(workspace_role(Role.reviewer))]
AdminIn = Annotated[Access, Depends(workspace_role(Role.admin))]


def audit_file(ctx: Context):
    return ctx.settings.data_dir / "audit-head.json"


def record_event(ctx: Context, **event) -> None:
    """One audit event in a transaction of its own (uploads, workspace creation, denied attempts)."""
    from rag import audit

    audit.record(ctx.store, audit_file(ctx), **event)


def visible_workspaces(ctx: Context, principal: Principal) -> list[str]:
    names = ctx.store.workspaces()
    return [n for n in names if principal.sees(n)]
