"""The web pages without a browser: sign-in and its cookie, redirects and refusals, the CSRF guard on
cookie-authenticated changes, security headers, and escaping: markup in a policy (or its file name) is
shown as text on every page, never rendered."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from rag.auth import SYSTEM, Role
from rag.ingest.pipeline import ingest_bytes
from rag.models import Action
from rag.review import decide
from rag.samples import add_manual
from rag.store import AuditRow
from tests.test_api_seed import seed_tenant, seeded_context

HOSTILE_NAME = "<i>hostile</i>.txt"
HOSTILE_QUOTE = ('Passwords are rotated every ninety days <script>alert("body")</script> and '
                 '<a href="http://evil.example/phish">reset here</a> by staff, <img src=x onerror="alert(1)"> always.')
HOSTILE = f'Hostile <script>alert("title")</script> Policy\n\n{HOSTILE_QUOTE}\n'
RAW = ['<script>alert(', '<a href="http://evil.example', '<img src=x', '<i>hostile</i>']
PAGES = ["review?status=all", "coverage", "areas", "narrative", "documents", "audit"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    ctx = seeded_context(tmp_path_factory.mktemp("web"))
    tenant = seed_tenant(ctx, "acme")
    seed_tenant(ctx, "other")
    ingest_bytes(ctx, "acme", HOSTILE_NAME, HOSTILE.encode())
    pid = add_manual(ctx, "acme", "soc2-tsc-2017", "CC6.2", HOSTILE_NAME, [HOSTILE_QUOTE], "seed")
    decide(ctx, "acme", pid, "seed <b>reviewer</b>", Action.approve, "<script>alert('comment')</script>")
    app = create_app(ctx=ctx)
    with TestClient(app, follow_redirects=False) as client:
        yield client, tenant, pid
    ctx.close()


def browser(client: TestClient, key: str | None = None) -> TestClient:
    """A fresh client (its own cookie jar), signed in with `key` when given."""
    return TestClient(client.app, cookies={"ctrlmap_key": key} if key else None, follow_redirects=False)


def test_signin_sets_a_strict_httponly_cookie(site):
    client, t, _ = site
    client = browser(client)
    ok = client.post("/signin", data={"key": t.keys[Role.reviewer], "next": "/w/acme/coverage"})
    assert ok.status_code == 303 and ok.headers["location"] == "/w/acme/coverage"
    cookie = ok.headers["set-cookie"].lower()
    assert "ctrlmap_key=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    offsite = client.post("/signin", data={"key": t.keys[Role.reviewer], "next": "//evil.example/x"})
    assert offsite.headers["location"] == "/"


def test_wrong_key_is_refused_and_recorded(site):
    client, _, _ = site
    bad = client.post("/signin", data={"key": "cm_12345678_" + "y" * 32})
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    with client.app.state.ctx.store.session() as s:
        event = s.scalars(select(AuditRow).where(AuditRow.action == "access.denied")
                          .order_by(AuditRow.seq.desc())).first()
    assert event.workspace == SYSTEM and event.target == "POST /signin" and event.outcome == "unauthenticated"


def test_pages_need_a_signed_in_key_of_the_workspace(site):
    client, t, _ = site
    for page in PAGES:
        response = browser(client).get(f"/w/acme/{page}")
        assert response.status_code == 303 and response.headers["location"].startswith("/signin?next=/w/acme/")
    signed_in = browser(client, t.keys[Role.viewer])
    assert signed_in.get("/").headers["location"] == "/w/acme/review"
    refused = signed_in.get("/w/other/review")
    assert refused.status_code == 403 and "Not allowed" in refused.text
    assert signed_in.get("/w/nowhere/review").status_code == 403  # a bound key learns nothing about others


def test_changes_from_the_browser_need_the_csrf_header(site):
    client, t, _ = site
    signed_in = browser(client, t.keys[Role.reviewer])
    url = f"/api/workspaces/acme/proposals/{t.proposals['spare']}/reject"
    assert signed_in.post(url, json={}).status_code == 403
    assert signed_in.post(url, json={}, headers={"X-Requested-With": "ctrlmap"}).status_code == 200
    assert signed_in.get(f"/api/workspaces/acme/proposals/{t.proposals['spare']}").status_code == 200


def test_security_headers(site):
    client, t, _ = site
    for response in (client.get("/signin"), client.get("/health"), browser(client, t.keys[Role.viewer]).get("/w/acme/coverage")):
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"


def test_document_markup_is_never_rendered(site):
    client, t, pid = site
    signed_in = browser(client, t.keys[Role.viewer])
    for page in PAGES:
        html = signed_in.get(f"/w/acme/{page}").text
        found = [raw for raw in RAW if raw in html]
        assert not found, f"{page} renders markup from a document: {found}"
    narrative = signed_in.get("/w/acme/narrative").text
    assert "&lt;script&gt;alert(&#34;body&#34;)&lt;/script&gt;" in narrative
    assert "&lt;i&gt;hostile&lt;/i&gt;.txt" in signed_in.get("/w/acme/documents").text
    assert "&lt;script&gt;alert(" in signed_in.get("/w/acme/audit").text  # the reviewer's comment, as text
    detail = signed_in.get(f"/api/workspaces/acme/proposals/{pid}").json()  # JSON; the page writes it as text
    assert detail["contexts"][0]["quote"] == HOSTILE_QUOTE


def test_viewer_page_is_read_only(site):
    client, t, _ = site
    viewer = browser(client, t.keys[Role.viewer]).get("/w/acme/review").text
    reviewer = browser(client, t.keys[Role.reviewer]).get("/w/acme/review").text
    assert 'data-can-review="no"' in viewer and 'data-can-review="yes"' in reviewer
