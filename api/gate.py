"""The service's outer layers, as pure ASGI middleware (nothing here reads a request body).

`Gate` answers before the application sees a request: a client over its refusal limit is 429; a request for
anything but the open routes without a valid key or web session is 401 (a redirect to the sign-in page for
the web pages), counted as a refusal, and its body is never read, let alone spooled; a declared body over the
size limit is 413 at once. Bodies that pass are capped while they stream (Starlette's
`RequestBodyLimitMiddleware`, inside the gate): 413 as soon as the cap is exceeded. `SecurityHeaders` adds the
browser protections to every response, the gate's own included.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import identify
from api.lane import identifies
from rag.context import Context
from rag.denials import Denials
from rag.errors import Unauthorized

OPEN_PATHS = {"/health", "/signin", "/signout", "/", "/openapi.json", "/favicon.ico"}
OPEN_PREFIXES = ("/static/",)
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


_ENCODED_SECURITY_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def client_of(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


async def _json(send: Send, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
           (b"connection", b"close")]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


async def _redirect(send: Send, location: str) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": b""})


class Gate:
    def __init__(self, app: ASGIApp, ctx: Context, denials: Denials, lane: bool = True) -> None:
        self.app, self.ctx, self.denials, self.lane = app, ctx, denials, lane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, client = scope["path"], client_of(scope)
        guarded = not is_open(path) or (path == "/signin" and scope["method"] == "POST")
        if guarded and self.denials.throttled(client):
            return await _json(send, 429, {"error": "too_many_refusals", "message": "too many refused requests "
                                           "from this client; try again in a minute"}, {"Retry-After": "60"})
        if self.lane and not is_open(path) and identifies(scope):  # identified on the lane's own thread hop
            scope.setdefault("state", {})["identify_in_lane"] = True
        elif not is_open(path):
            try:
                principal, session = await run_in_threadpool(identify, self.ctx, HTTPConnection(scope))
            except Unauthorized as exc:
                return await self._refuse(scope, send, exc)
            scope.setdefault("state", {}).update(principal=principal, web_session=session)
        limit = self.ctx.settings.request_limit_bytes
        if _declared_length(scope) > limit:
            return await _json(send, 413, {"error": "too_large",
                                           "message": f"the request body exceeds the limit of {limit} bytes"})
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, exc: Unauthorized) -> None:
        path = scope["path"]
        await run_in_threadpool(self.denials.note, client_of(scope), "unauthenticated", "anonymous",
                                f"{scope['method']} {path}")
        if not path.startswith("/api/"):
            return await _redirect(send, f"/signin?next={quote(path, safe='/')}")
        await _json(send, 401, exc.as_dict(), {"WWW-Authenticate": "Bearer"})


def _declared_length(scope: Scope) -> int:
    try:
        return int(Headers(scope=scope).get("content-length") or 0)
    except ValueError:
        return 0


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [h for h in _ENCODED_SECURITY_HEADERS if h[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
