"""The web pages, served by the same app as the API. Signing in with a key opens a server-side session
(`rag.sessions`): the HttpOnly, SameSite=Strict cookie holds the session's random id, never the key, and
signing out ends the session on the server. The sign-in form carries a token bound to a cookie of its own
(login CSRF); every page carries its session's CSRF token, which forms send as a field and the page script as
`X-CSRF-Token`, and changes must come from this site (Origin/Referer). Pages read data server-side and render
it through autoescaped templates; the script writes API data with textContent only."""

from __future__ import annotations

import secrets
from typing import Annotated

import jinja2
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from api.deps import (SESSION_COOKIE, Access, ContextDep, check_csrf, identify, record_event, visible_workspaces,
                      workspace_role)
from api.gate import client_of
from api.routes.narratives import workspace_profile
from api.web import TEMPLATES_DIR, views
from rag import audit, corpus, documents, queue
from rag.auth import Role, authenticate
from rag.coverage import FOCUS_AREAS, OTHER_AREAS, coverage
from rag.errors import CtrlmapError, Forbidden, Unauthorized
from rag.jobs import list_jobs
from rag.sessions import close_session, open_session
from rag.workflows import describe_system

EXPORTS = [("description", "Description (Word)"), ("matrix", "Control matrix (XLSX)"),
           ("soa", "Statement of Applicability (XLSX)"), ("csv", "Citations (CSV)"), ("xlsx", "Citations (XLSX)"),
           ("json", "Proposals (JSON)"), ("oscal", "OSCAL component definition"), ("bundle", "Evidence bundle (zip)")]

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                                                   trim_blocks=True, lstrip_blocks=True))
templates.env.filters["media_label"] = views.media_label
templates.env.globals["clause_href"] = views.clause_href
Page = Annotated[Access, Depends(workspace_role(Role.viewer))]
AREA_LABELS = {**FOCUS_AREAS, **OTHER_AREAS}
LOGIN_COOKIE = "ctrlmap_signin"  # the sign-in form's own CSRF token (double-submit)


def render(request: Request, access: Access | None, template: str, status_code: int = 200, **data) -> HTMLResponse:
    ctx = request.app.state.ctx
    base = {"principal": access.principal if access else None, "workspace": access.workspace if access else None,
            "workspaces": visible_workspaces(ctx, access.principal) if access else [],
            "can_review": bool(access and access.principal.has(Role.reviewer)),
            "is_admin": bool(access and access.principal.has(Role.admin)), "csrf": _session_csrf(request)}
    return templates.TemplateResponse(request, template, {**base, **data}, status_code=status_code)


def error_page(request: Request, exc: CtrlmapError) -> HTMLResponse:
    return render(request, None, "error.html", status_code=exc.http_status, error=exc)


def _session_csrf(request: Request) -> str:
    session = getattr(request.state, "web_session", None)
    return session.csrf if session else ""


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


@router.get("/", response_class=HTMLResponse)
def home(request: Request, ctx: ContextDep):
    try:
        principal, _ = identify(ctx, request)
    except Unauthorized:
        return RedirectResponse("/signin", status_code=303)
    names = visible_workspaces(ctx, principal)
    if not names:
        return render(request, None, "error.html", status_code=404,
                      error=CtrlmapError("there is no workspace yet; create one with the API or the CLI"))
    return RedirectResponse(f"/w/{names[0]}/review", status_code=303)


def _signin_form(request: Request, next: str, status_code: int = 200, error: str = "") -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(request, None, "signin.html", status_code=status_code, next=_safe_next(next), error=error,
                      csrf=token)
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict", path="/signin",
                        secure=_secure(request))
    return response


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: str = "/"):
    return _signin_form(request, next)


@router.post("/signin", response_class=HTMLResponse)
def signin(request: Request, ctx: ContextDep, key: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/",
           csrf: Annotated[str, Form()] = ""):
    try:
        check_csrf(request, request.cookies.get(LOGIN_COOKIE, ""), csrf)
        principal = authenticate(ctx, key)
    except (Unauthorized, Forbidden) as exc:
        request.app.state.denials.note(client_of(request.scope), "signin-refused", "anonymous", "POST /signin")
        status = 403 if isinstance(exc, Forbidden) else 401
        return _signin_form(request, next, status, "the sign-in form expired or came from another site; try again"
                            if isinstance(exc, Forbidden) else exc.message)
    session_id, _ = open_session(ctx, principal)
    record_event(ctx, workspace=principal.audit_workspace, actor=principal.actor, action="session.signin",
                 target="web", client=client_of(request.scope))
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="strict", path="/",
                        secure=_secure(request))
    response.delete_cookie(LOGIN_COOKIE, path="/signin")
    return response


@router.post("/signout")
def signout(request: Request, ctx: ContextDep, csrf: Annotated[str, Form()] = ""):
    """Ends the session on the server (the cookie alone would not be enough), then forgets the cookie."""
    try:
        _, session = identify(ctx, request)
    except Unauthorized:
        session = None
    if session is not None:
        check_csrf(request, session.csrf, csrf)
        close_session(ctx, request.cookies.get(SESSION_COOKIE))
        record_event(ctx, workspace=session.principal.audit_workspace, actor=session.principal.actor,
                     action="session.signout", target="web", client=client_of(request.scope))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/w/{workspace}/review", response_class=HTMLResponse)
def review_page(request: Request, access: Page, ctx: ContextDep, status: str = views.QUEUE,
                framework: str | None = None, min_confidence: str = "", max_confidence: str = "",
                document_id: str = "", clause: str | None = None, area: str | None = None,
                method: str | None = None, q: str | None = None, sort: str = "clause", limit: str = "50",
                offset: str = "0", view: str | None = None):
    """The queue page; a filter left empty in the form (or nonsense in the address) simply does not filter."""
    status = status if status in dict(views.STATUSES) else views.QUEUE
    framework = _framework_key(ctx, framework)
    where = queue.Filter(framework=framework, status=None if status == "all" else status,
                         document_id=_number(document_id, int), clause_id=(clause or "").strip()[:64] or None,
                         area=area if area in AREA_LABELS else None,
                         method=method if method in views.METHODS else None,
                         min_confidence=_number(min_confidence, float), max_confidence=_number(max_confidence, float),
                         search=(q or "").strip()[:200] or None)
    sort = sort if sort in dict(views.SORTS) else "clause"
    limit = _number(limit, int) if _number(limit, int) in views.PAGE_SIZES else 50
    shown = views.queue_view(ctx, access.workspace, where, sort, limit, max(0, _number(offset, int) or 0))
    report = coverage(ctx, access.workspace)
    return render(request, access, "review.html", page="review", statuses=views.STATUSES, status=status,
                  framework=framework, frameworks=views.short_names(ctx), queue=shown, items=shown.items,
                  where=where, q=where.search or "", sort=sort, sorts=views.SORTS, limit=limit,
                  page_sizes=views.PAGE_SIZES, methods=views.METHODS, areas=AREA_LABELS,
                  documents=sorted(corpus.document_ids(ctx, access.workspace).items()), summary=report.frameworks,
                  open_clause=(framework, clause) if view == "clause" and framework and clause else None)


def _number(text: str, kind):
    try:
        return kind(text) if text not in (None, "") else None
    except ValueError:
        return None


def _framework_key(ctx, name: str | None) -> str | None:
    try:
        return ctx.catalog.key(name) if name else None
    except CtrlmapError:
        return None


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
                  notes=notes.items, problems=desc.problems, has_profile=profile is not None, exports=EXPORTS)


@router.get("/w/{workspace}/documents", response_class=HTMLResponse)
def documents_page(request: Request, access: Page, ctx: ContextDep):
    docs = documents.list_documents(ctx, access.workspace)
    for doc in docs:
        doc["history"] = documents.versions(ctx, access.workspace, doc["id"])
    jobs = list_jobs(ctx, access.workspace, limit=5)
    return render(request, access, "documents.html", page="documents", documents=docs, jobs=jobs)


@router.get("/w/{workspace}/documents/{document_id}", response_class=HTMLResponse)
def document_page(request: Request, access: Page, ctx: ContextDep, document_id: int):
    doc = documents.sections(ctx, access.workspace, document_id)
    return render(request, access, "document.html", page="documents", doc=doc)


@router.get("/w/{workspace}/audit", response_class=HTMLResponse)
def audit_page(request: Request, access: Page, ctx: ContextDep):
    events = audit.read_events(ctx, access.workspace, 150)
    verification = audit.verify_store(ctx) \
        if access.principal.workspace is None and access.principal.has(Role.admin) else None
    return render(request, access, "audit.html", page="audit", events=events, verification=verification)
