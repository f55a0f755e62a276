"""The ctrlmap service: the JSON API under /api (OpenAPI at /openapi.json), the reviewer's web pages, and
/health. `create_app(settings)` builds one; `ctrlmap serve` runs it on 127.0.0.1.

Every error the domain raises (`CtrlmapError`) becomes its HTTP status with its `as_dict()` body, in one
handler. Requests pass the gate first (`api.gate`: authentication before the body is read, a streaming size
cap, a limit on refused requests per client, security headers). Refused requests (401, 403) are counted per
client and minute (`rag.denials`), apart from the audit chain.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from api.gate import Gate, SecurityHeaders, client_of
from api.lane import ReviewLane
from api.routes import ROUTERS
from api.web import STATIC_DIR
from api.web.pages import error_page
from api.web.pages import router as web_router
from rag import __version__, audit, jobs
from rag.context import Context
from rag.denials import Denials
from rag.errors import CtrlmapError, Forbidden, Unauthorized
from rag.settings import Settings

def create_app(settings: Settings | None = None, ctx: Context | None = None, worker: bool = True,
               checkpoint_seconds: float | None = None, review_lane: bool = True) -> FastAPI:
    """`worker`: also run queued jobs on a thread of this process (the single-process setup); `ctrlmap serve
    --workers N` runs them in N worker processes instead. `checkpoint_seconds`: move the audit checkpoint from
    a background thread at most this often (`rag.audit.Pacer`) instead of after every commit. `review_lane`:
    answer the review's hot routes in `api.lane` (False: every request through FastAPI, as tests compare)."""
    owned = ctx is None
    ctx = ctx or Context(settings)
    if checkpoint_seconds and ctx.checkpoint_pacer is None:
        ctx.checkpoint_pacer = audit.Pacer(ctx, checkpoint_seconds)
    _ = ctx.catalog  # load (and validate) the catalog before the first request
    ctx.store.remember_keys()  # on PostgreSQL: a reviewer's key is not looked up on every request

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        anyio.to_thread.current_default_thread_limiter().total_tokens = ctx.settings.server_threads
        yield
        if app.state.worker:
            app.state.worker.stop.set()
        app.state.denials.flush()
        if ctx.checkpoint_pacer is not None:
            ctx.checkpoint_pacer.stop()
            ctx.checkpoint_pacer = None
        if owned:
            ctx.close()

    app = FastAPI(title="ctrlmap", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Map company policies to SOC 2, ISO 27001, ISO 42001 and NIST AI RMF with verbatim "
                              "citations; a person approves every mapping. Send `Authorization: Bearer <key>`.")
    app.state.ctx = ctx
    app.state.worker = jobs.start_thread(ctx) if worker else None
    app.state.denials = Denials(ctx)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(CtrlmapError, _handle_error)
    if review_lane:  # innermost: after the gate and the body cap
        app.add_middleware(ReviewLane, ctx=ctx, on_error=_handle_error)
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=ctx.settings.request_limit_bytes)
    app.add_middleware(Gate, ctx=ctx, denials=app.state.denials, lane=review_lane)
    app.add_middleware(SecurityHeaders)  # outermost: the gate's own answers carry the headers too
    app.openapi = lambda: _openapi(app)
    return app


def _openapi(app: FastAPI) -> dict:
    """The generated schema, plus the bearer-key scheme every operation but /health requires."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = {
            "apiKey": {"type": "http", "scheme": "bearer", "description": "A key from `ctrlmap keys create`."}}
        for path, item in schema["paths"].items():
            for operation in item.values():
                operation["security"] = [] if path == "/health" else [{"apiKey": []}]
        app.openapi_schema = schema
    return app.openapi_schema


def _handle_error(request: Request, exc: CtrlmapError):
    if isinstance(exc, (Unauthorized, Forbidden)):
        _record_refusal(request, exc)
    if not request.url.path.startswith("/api/"):
        if isinstance(exc, Unauthorized):
            return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)
        return error_page(request, exc)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return JSONResponse(exc.as_dict(), status_code=exc.http_status, headers=headers)


def _record_refusal(request: Request, exc: CtrlmapError) -> None:
    """Counted per client and minute (`rag.denials`), never one audit event per refused request."""
    principal = getattr(request.state, "principal", None)
    request.app.state.denials.note(client_of(request.scope), "forbidden" if isinstance(exc, Forbidden)
                                   else "unauthenticated", principal.actor if principal else "anonymous",
                                   f"{request.method} {request.url.path}")
