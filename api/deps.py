"""What every route depends on: the context, the caller (an `Authorization: Bearer` key, or the web session
its cookie names, whose changes must carry the session's CSRF token and come from this site), the role a route
needs, access to the workspace named in its path, and an upload read only once all of that is cleared.

Checks run in a fixed order: no valid key is 401, too small a role is 403, a workspace the key is not bound
to is 403, a workspace that does not exist is 404. A workspace's data is only ever read through `Access`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import HTTPConnection

from rag.auth import Principal, Role, authenticate, require
from rag.context import WORKSPACE_NAME, Context
from rag.errors import Forbidden, InvalidInput, NotFound
from rag.sessions import WebSession, resolve

SESSION_COOKIE = "ctrlmap_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


# The dependencies below are `async` although they do not await I/O: FastAPI runs a plain `def` dependency on
# a worker thread, and every request would pay those thread hops (and the GIL hand-overs) several times over.
# What may touch the database is the gate's authentication (already on a thread) and the first check of a
# workspace name in a process (`Store.has_workspace` remembers it).

async def get_ctx(request: Request) -> Context:
    return request.app.state.ctx


ContextDep = Annotated[Context, Depends(get_ctx)]


def identify(ctx: Context, conn: HTTPConnection) -> tuple[Principal, WebSession | None]:
    """Who a request comes from: an `Authorization: Bearer` key, or else the web session its cookie names."""
    scheme, _, value = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return authenticate(ctx, value.strip()), None
    session_id = conn.cookies.get(SESSION_COOKIE)
    if session_id and not conn.headers.get("authorization"):
        session = resolve(ctx, session_id)
        return session.principal, session
    return authenticate(ctx, None), None


def same_origin(conn: HTTPConnection) -> bool:
    """False when the Origin (or, without one, the Referer) names another site than the one addressed."""
    claimed = conn.headers.get("origin") or conn.headers.get("referer")
    if not claimed:
        return True
    return claimed != "null" and urlsplit(claimed).netloc == conn.headers.get("host", "")


def check_csrf(conn: HTTPConnection, expected: str, presented: str | None) -> None:
    """A change made from the browser must come from this site and carry the token the page was given."""
    if not same_origin(conn):
        raise Forbidden("cross-site request refused (its Origin or Referer is another site)")
    if not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise Forbidden("a change from the browser must carry the page's CSRF token (cross-site request refused)")


async def caller(request: Request, ctx: ContextDep) -> Principal:
    state = request.scope.get("state") or {}
    if "principal" in state:  # authenticated by the gate before the body was read
        principal, session = state["principal"], state["web_session"]
    else:
        principal, session = await run_in_threadpool(identify, ctx, request)
    request.state.principal, request.state.web_session = principal, session
    if session is not None and request.method not in SAFE_METHODS:
        check_csrf(request, session.csrf, request.headers.get(CSRF_HEADER))
    return principal


def role(required: Role):
    async def dependency(principal: Principal = Depends(caller)) -> Principal:
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
    async def dependency(workspace: str = PathParam(description="Workspace (tenant) name."),
                         principal: Principal = Depends(role(required)), ctx: Context = Depends(get_ctx)) -> Access:
        return check_access(ctx, principal, workspace)

    dependency.__name__ = f"workspace_{required.value}"
    return dependency


def global_role(required: Role):
    """For actions over every workspace (creating workspaces, verifying the whole chain): unbound keys only."""

    async def dependency(principal: Principal = Depends(role(required))) -> Principal:
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
    from rag.audit import checkpoint_path

    return checkpoint_path(ctx.settings)


def record_event(ctx: Context, **event) -> None:
    """One audit event in a transaction of its own (uploads, workspace creation, denied attempts)."""
    from rag import audit

    audit.record(ctx.store, audit_file(ctx), **event)


def visible_workspaces(ctx: Context, principal: Principal) -> list[str]:
    names = ctx.store.workspaces()
    return [n for n in names if principal.sees(n)]


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str
    name: str | None


async def read_upload(request: Request, access: AdminIn) -> Upload:
    """The multipart upload (`file`, optional `name`), read only after the caller was cleared for it: a body
    that a smaller role sends is refused before a byte of it is spooled."""
    limit = int(request.app.state.ctx.settings.max_file_mb * 1024 * 1024)
    form = await request.form(max_files=1, max_fields=4)
    file, name = form.get("file"), form.get("name")
    if not isinstance(file, UploadFile):
        raise InvalidInput("send the document as the multipart field 'file'")
    return Upload(await file.read(limit + 1), file.filename or "", name if isinstance(name, str) and name else None)


UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"},
        "name": {"type": "string", "description": "Document name [default: the file name]"}}}}}}}
