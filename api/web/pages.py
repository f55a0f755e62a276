"""The web pages, served by the same app as the API. Sign-in stores the key in an HttpOnly, SameSite=Strict
cookie; pages read data server-side and render it through autoescaped templates, and the small script on each
page calls the JSON API (with X-Requested-With, refused otherwise) and writes data with textContent only."""

from __future__ import annotations

from typing import Annotated

import jinja2
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from api.deps import COOKIE, Access, ContextDep, presented_key, record_event, visible_workspaces, workspace_role
from api.routes.narratives import workspace_profile
from api.web import TEMPLATES_DIR, views
from rag import audit, documents
from rag.auth import SYSTEM, Role, authenticate
from rag.coverage import coverage
from rag.jobs import list_jobs
from rag.errors import CtrlmapError, Unauthorized
from rag.workflows import describe_system

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                                                   trim_blocks=True, lstrip_blocks=True))
templates.env.filters["media_label"] = views.media_label
Page = Annotated[Access, Depends(workspace_role(Role.viewer))]


def render(request: Request, access: Access | None, template: str, status_code: int = 200, **data) -> HTMLResponse:
    ctx = request.app.state.ctx
    base = {"principal": access.principal if access else None, "workspace": access.workspace if access else None,
            "workspaces": visible_workspaces(ctx, access.principal) if access else [],
            "can_review": bool(access and access.principal.has(Role.reviewer)),
            "is_admin": bool(access and access.principal.has(Role.admin))}
    return templates.TemplateResponse(request, template, {**base, **data}, status_code=status_code)


def error_page(request: Request, exc: CtrlmapError) -> HTMLResponse:
    return render(request, None, "error.html", status_code=exc.http_status, error=exc)


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


@router.get("/", response_class=HTMLResponse)
def home(request: Request, ctx: ContextDep):
    key, _ = presented_key(request)
    try:
        principal = authenticate(ctx, key)
    except Unauthorized:
        return RedirectResponse("/signin", status_code=303)
    names = visible_workspaces(ctx, principal)
    if not names:
        return render(request, None, "error.html", status_code=404,
                      error=CtrlmapError("there is no workspace yet; create one with the API or the CLI"))
    return RedirectResponse(f"/w/{names[0]}/review", status_code=303)


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: str = "/"):
    return render(request, None, "signin.html", next=_safe_next(next))


@router.post("/signin", response_class=HTMLResponse)
def signin(request: Request, ctx: ContextDep, key: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/"):
    try:
        principal = authenticate(ctx, key)
    except Unauthorized as exc:
        record_event(ctx, workspace=SYSTEM, actor="anonymous", action="access.denied", target="POST /signin",
                     outcome="unauthenticated", reason=exc.message,
                     client=request.client.host if request.client else None)
        return render(request, None, "signin.html", status_code=401, next=_safe_next(next), error=exc.message)
    record_event(ctx, workspace=principal.audit_workspace, actor=principal.actor, action="session.signin",
                 target="web", client=request.client.host if request.client else None)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(COOKIE, key.strip(), httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return response


@router.post("/signout")
def signout():
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/w/{workspace}/review", response_class=HTMLResponse)
def review_page(request: Request, access: Page, ctx: ContextDep, status: str = views.QUEUE,
                framework: str | None = None, min_confidence: float | None = None):
    status = status if status in dict(views.STATUSES) else views.QUEUE
    framework = framework if framework in ctx.catalog.frameworks else None
    report = coverage(ctx, access.workspace)
    return render(request, access, "review.html", page="review", statuses=views.STATUSES, status=status,
                  framework=framework, min_confidence=min_confidence, frameworks=views.short_names(ctx),
                  items=views.queue(ctx, access.workspace, status, framework, min_confidence),
                  summary=report.frameworks)


@router.get("/w/{workspace}/coverage", response_class=HTMLResponse)
def coverage_page(request: Request, access: Page, ctx: ContextDep):
    report = coverage(ctx, access.workspace)
    return render(request, access, "coverage.html", page="coverage", summary=report.frameworks,
                  heat=views.heat(report), gaps=views.gaps_by_framework(report))


@router.get("/w/{workspace}/areas", response_class=HTMLResponse)
def areas_page(request: Request, access: Page, ctx: ContextDep):
    report = coverage(ctx, access.workspace)
    return render(request, access, "areas.html", page="areas", areas=views.areas(report),
                  frameworks=[f.name for f in report.frameworks])


@router.get("/w/{workspace}/narrative", response_class=HTMLResponse)
def narrative_page(request: Request, access: Page, ctx: ContextDep):
    profile = workspace_profile(ctx, access.workspace)
    desc = describe_system(ctx, access.workspace, profile)  # the same narrative the CLI and the API give
    notes = views.Footnotes()
    blocks = views.narrative_blocks(desc.sections, notes)
    return render(request, access, "narrative.html", page="narrative", title=desc.title, blocks=blocks,
                  notes=notes.items, problems=desc.problems, has_profile=bool(profile))


@router.get("/w/{workspace}/documents", response_class=HTMLResponse)
def documents_page(request: Request, access: Page, ctx: ContextDep):
    docs = documents.list_documents(ctx, access.workspace)
    for doc in docs:
        doc["history"] = documents.versions(ctx, access.workspace, doc["id"])
    jobs = list_jobs(ctx, access.workspace, limit=5)
    return render(request, access, "documents.html", page="documents", documents=docs, jobs=jobs)


@router.get("/w/{workspace}/audit", response_class=HTMLResponse)
def audit_page(request: Request, access: Page, ctx: ContextDep):
    with ctx.store.session() as s:
        events = audit.events(s, access.workspace, 150)
        verification = audit.verify(s, ctx.settings.data_dir / "audit-head.json") \
            if access.principal.workspace is None and access.principal.has(Role.admin) else None
    return render(request, access, "audit.html", page="audit", events=events, verification=verification)
