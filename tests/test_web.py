"""The web pages without a browser: sign-in opens a server-side session (the key never reaches a cookie) that
expires, ends with its key and on sign-out; login CSRF and the session's CSRF token on every change; refused
sign-ins counted apart from the audit chain; redirects and refusals; security headers; and escaping: markup in a policy (or its file name) is
shown as text on every page, never rendered."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from rag.auth import Role, create_key, revoke_key
from rag.ingest.pipeline import ingest_bytes
from rag.models import Action
from rag.review import decide
from rag.samples import add_manual
from rag.store import AuditRow, DeniedRequestRow, WebSessionRow
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


def sign_in(client: TestClient, key: str, next: str = "/", headers: dict | None = None):
    """What a browser does: load the sign-in form (it sets the form's own cookie), post it with its token."""
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text).group(1)
    return client.post("/signin", data={"key": key, "next": next, "csrf": token}, headers=headers)


def browser(client: TestClient, key: str | None = None) -> TestClient:
    """A fresh client (its own cookie jar), signed in with `key` when given."""
    fresh = TestClient(client.app, follow_redirects=False)
    if key:
        assert sign_in(fresh, key).status_code == 303
    return fresh


def page_token(client: TestClient, page: str = "/w/acme/review") -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get(page).text).group(1)


def test_signin_opens_a_server_side_session(site):
    client, t, _ = site
    client = browser(client)
    key = t.keys[Role.reviewer]
    ok = sign_in(client, key, "/w/acme/coverage")
    assert ok.status_code == 303 and ok.headers["location"] == "/w/acme/coverage"
    cookie = ok.headers["set-cookie"]
    session_id = client.cookies.get("ctrlmap_session")
    assert session_id and "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert key not in cookie and key.split("_", 2)[2] not in str(client.cookies)  # the key never reaches the browser
    with client.app.state.ctx.store.session() as s:
        stored = s.scalars(select(WebSessionRow)).all()
    assert session_id not in {r.id_hash for r in stored}  # only a hash of the id is stored
    assert client.get("/w/acme/coverage").status_code == 200
    offsite = sign_in(browser(client), key, "//evil.example/x")
    assert offsite.headers["location"] == "/"


def test_signin_refuses_cross_site_posts(site):
    """Login CSRF: a form posted from another site (no token, a token of another browser, or a foreign Origin)
    opens no session."""
    client, t, _ = site
    key = t.keys[Role.admin]
    victim = browser(client)
    assert victim.post("/signin", data={"key": key}).status_code == 403
    attacker = browser(client)
    stolen = re.search(r'name="csrf" value="([^"]+)"', attacker.get("/signin").text).group(1)
    victim.get("/signin")
    assert victim.post("/signin", data={"key": key, "csrf": stolen}).status_code == 403
    refused = sign_in(browser(client), key, headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and "another site" in refused.text
    assert sign_in(browser(client), key, headers={"Referer": "http://evil.example/form"}).status_code == 403
    assert "ctrlmap_session" not in victim.cookies
    assert sign_in(browser(client), key, headers={"Origin": "http://testserver"}).status_code == 303


def test_signout_ends_the_session_on_the_server(site):
    client, t, _ = site
    signed_in = browser(client, t.keys[Role.viewer])
    session_id = signed_in.cookies.get("ctrlmap_session")
    assert signed_in.post("/signout", data={}).status_code == 403  # sign-out is a form too: it needs the token
    out = signed_in.post("/signout", data={"csrf": page_token(signed_in)})
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    replay = TestClient(client.app, cookies={"ctrlmap_session": session_id}, follow_redirects=False)
    assert replay.get("/w/acme/review").status_code == 303  # back to the sign-in page
    assert replay.get("/api/workspaces/acme/proposals").status_code == 401


def test_session_expires_and_ends_with_its_key(site):
    client, t, _ = site
    ctx = client.app.state.ctx
    signed_in = browser(client, t.keys[Role.viewer])
    assert signed_in.get("/api/me").status_code == 200
    with ctx.store.session(write=True) as s:
        for row in s.scalars(select(WebSessionRow)):
            row.expires_at = row.expires_at - timedelta(hours=ctx.settings.session_hours + 1)
    assert signed_in.get("/api/me").status_code == 401
    key, info = create_key(ctx, Role.viewer, "acme", name="short-lived")
    signed_in = browser(client, key)
    assert signed_in.get("/api/me").status_code == 200
    revoke_key(ctx, info.id, "admin")
    assert signed_in.get("/api/me").status_code == 401


def test_wrong_key_is_refused_and_counted_apart_from_the_chain(site):
    client, _, _ = site
    with client.app.state.ctx.store.session() as s:
        events = s.scalar(select(func.count()).select_from(AuditRow))
    bad = sign_in(browser(client), "cm_12345678_" + "y" * 32)
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    with client.app.state.ctx.store.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditRow)) == events  # the chain did not grow
        # counters are per minute, and the module's site is shared: an earlier refusal may sit in another minute
        row = s.scalars(select(DeniedRequestRow).where(DeniedRequestRow.outcome == "signin-refused")
                        .order_by(DeniedRequestRow.window.desc())).first()
    assert row.count >= 1 and row.last_target == "POST /signin" and row.client == "testclient"


def test_pages_need_a_signed_in_key_of_the_workspace(site):
    client, t, _ = site
    for page in PAGES:
        response = browser(client).get(f"/w/acme/{page}")
        assert response.status_code == 303 and response.headers["location"].startswith("/signin?next=/w/acme/")
    injected = browser(client).get("/w/acme/review%0d%0aSet-Cookie:%20x=1")
    assert injected.status_code == 303 and "set-cookie" not in injected.headers
    assert injected.headers["location"] == "/signin?next=/w/acme/review%0D%0ASet-Cookie%3A%20x%3D1"
    signed_in = browser(client, t.keys[Role.viewer])
    assert signed_in.get("/").headers["location"] == "/w/acme/review"
    refused = signed_in.get("/w/other/review")
    assert refused.status_code == 403 and "Not allowed" in refused.text
    assert signed_in.get("/w/nowhere/review").status_code == 403  # a bound key learns nothing about others


def test_changes_from_the_browser_need_the_session_token(site):
    client, t, _ = site
    signed_in = browser(client, t.keys[Role.reviewer])
    url = f"/api/workspaces/acme/proposals/{t.proposals['spare']}/reject"
    assert signed_in.post(url, json={}).status_code == 403
    assert signed_in.post(url, json={}, headers={"X-Requested-With": "ctrlmap"}).status_code == 403
    assert signed_in.post(url, json={}, headers={"X-CSRF-Token": "forged"}).status_code == 403
    token = page_token(signed_in)
    assert signed_in.post(url, json={}, headers={"X-CSRF-Token": token, "Origin": "http://evil.example"}
                          ).status_code == 403
    assert signed_in.post(url, json={}, headers={"X-CSRF-Token": token}).status_code == 200
    other = browser(client, t.keys[Role.reviewer])
    assert other.post(url, json={}, headers={"X-CSRF-Token": token}).status_code == 403  # bound to its session
    assert signed_in.get(f"/api/workspaces/acme/proposals/{t.proposals['spare']}").status_code == 200


def test_security_headers(site):
    client, t, _ = site
    for response in (client.get("/signin"), client.get("/health"), browser(client).get("/w/acme/coverage"),
                     client.get("/api/me"), client.get("/static/app.css"),
                     browser(client, t.keys[Role.viewer]).get("/w/acme/coverage")):
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"  # keeps Origin on same-site posts
        assert response.headers["cross-origin-opener-policy"] == "same-origin"
        assert response.headers["cache-control"] == "no-store"


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
