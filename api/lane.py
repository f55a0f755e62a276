"""The review's hot routes served without the framework's per-request machinery.

A reviewer's every decision is two requests: open the proposal, then approve, reject or edit it. Under load,
FastAPI's routing, dependency solving, middleware layers and the hop to a worker thread for each dependency
and endpoint cost more CPU than the decision itself. `ReviewLane` (pure ASGI, inside the gate, so the caller
is already authenticated and the body capped) answers exactly those requests: it runs the same checks in the
same order as the routes' dependencies (a browser's CSRF token, the role, the workspace), calls the same
functions the routes call (`api.routes.proposals.proposal_detail` and `decision_result`) in one worker-thread
hop, and turns a domain error into the same answer as the application's handler. Anything else, including a
body or query the schemas refuse, goes on to the application unchanged (a body already read is replayed), so
FastAPI still validates, documents (OpenAPI) and answers those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import CSRF_HEADER, check_access, check_csrf, identify
from api.routes.proposals import decision_result, edit_of, proposal_detail
from api.schemas import DecisionCreate, ProposalUpdate
from rag.auth import Role, require
from rag.context import Context
from rag.errors import CtrlmapError
from rag.models import Action

_PATH = re.compile(r"^/api/workspaces/([^/]+)/proposals/(\d{1,18})(?:/(approve|reject|edit))?$")
_CONTEXT = re.compile(rb"^(?:context=(\d{1,4}))?$")
_BODIES: dict[str, type[BaseModel]] = {"approve": DecisionCreate, "reject": DecisionCreate, "edit": ProposalUpdate}
_DEFAULT_CONTEXT, _MAX_CONTEXT = 600, 5000
SMALL_BODY = 16 * 1024  # a decision's body (a comment of at most 4,000 characters, a coverage, a rationale)


@dataclass(frozen=True)
class Call:
    """One request the lane answers: open a proposal (`action` None) or decide it."""

    workspace: str
    proposal_id: int
    action: str | None
    context: int = _DEFAULT_CONTEXT


def match(scope: Scope) -> Call | None:
    """The call this request is, or None when the application should answer it (or no one identifies it)."""
    state = scope.get("state") or {}
    return _call(scope) if "principal" in state or state.get("identify_in_lane") else None


def identifies(scope: Scope) -> bool:
    """A request the lane answers and whose caller it identifies itself, on the same worker-thread hop as the
    answer (a refusal is counted and answered as the gate would): opening a proposal, or deciding one with a
    declared JSON body of at most `SMALL_BODY` bytes (a comment), read before the key is checked as the
    request line and headers are. The gate identifies the callers of everything else before a byte of their
    body is read."""
    call = _call(scope)
    return call is not None and (call.action is None or 0 < _declared_length(scope) <= SMALL_BODY)


def _call(scope: Scope) -> Call | None:
    """The call this request's method, path, query and content type make, whoever sent it."""
    found = _PATH.match(scope["path"])
    if found is None:
        return None
    workspace, proposal_id, action = found.group(1), int(found.group(2)), found.group(3)
    if action is None:
        context = _context(scope)
        return None if context is None else Call(workspace, proposal_id, None, context)
    if scope["method"] != "POST" or scope.get("query_string") or not _is_json(scope):
        return None
    return Call(workspace, proposal_id, action)


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else -1
    return -1


def _context(scope: Scope) -> int | None:
    """The `context` a GET asks for (characters around each quote), or None when the lane leaves it to the
    application (another method, other query parameters, a value out of range)."""
    query = _CONTEXT.match(scope.get("query_string", b""))
    if scope["method"] != "GET" or query is None:
        return None
    context = int(query.group(1)) if query.group(1) else _DEFAULT_CONTEXT
    return context if context <= _MAX_CONTEXT else None


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


class ReviewLane:
    def __init__(self, app: ASGIApp, ctx: Context, on_error: Callable[[Request, CtrlmapError], Response]) -> None:
        self.app, self.ctx, self.on_error = app, ctx, on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = match(scope) if scope["type"] == "http" else None
        if call is None:
            return await self.app(scope, receive, send)
        body = None
        if call.action is not None:
            raw = await _read(receive)
            try:
                body = _BODIES[call.action].model_validate_json(raw)
            except ValidationError:  # the application answers it, with its own 422
                return await self.app(scope, _replay(raw, receive), send)
        try:
            payload = await run_in_threadpool(self._answer, scope, call, body)
            response = Response(payload, media_type="application/json")
        except CtrlmapError as exc:
            response = await run_in_threadpool(self.on_error, Request(scope), exc)
        await response(scope, receive, send)

    def _answer(self, scope: Scope, call: Call, body: BaseModel | None) -> bytes:
        state = scope["state"]
        if "principal" not in state:  # the gate left it to the lane (`identifies`)
            state["principal"], state["web_session"] = identify(self.ctx, HTTPConnection(scope))
        principal, session = state["principal"], state.get("web_session")
        if session is not None and call.action is not None:
            conn = HTTPConnection(scope)
            check_csrf(conn, session.csrf, conn.headers.get(CSRF_HEADER))
        access = check_access(self.ctx, require(principal, Role.viewer if call.action is None else Role.reviewer),
                              call.workspace)
        if call.action is None:
            return proposal_detail(self.ctx, access, call.proposal_id, call.context).model_dump_json().encode()
        edit = edit_of(body) if call.action == "edit" else None
        return decision_result(self.ctx, access, call.proposal_id, Action(call.action), body.comment,
                               edit).model_dump_json().encode()


async def _read(receive: Receive) -> bytes:
    """The whole body (the gate's cap, outside this lane, refuses one too large while it streams)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read, then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
