"""The API's two promises about access: every route (as listed in the OpenAPI document) refuses a request
without a key (401) and a key with too small a role (403); and workspaces isolate tenants completely, so
three tenants queried through every read route never see one another's canary strings, and a forged
workspace or object id is refused (403 or 404). Refusals are counted per client, apart from the audit chain."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from rag.auth import Role, create_key
from rag.store import AuditRow, DeniedRequestRow
from tests.test_api_seed import Tenant, seed_tenant, seeded_context

G = "global"  # an admin key bound to no workspace
# Every operation of the OpenAPI document and the role it needs (None: open). A new route fails this test
# until it is listed here with its role.
REQUIRED: dict[tuple[str, str], str | None] = {
    ("get", "/health"): None,
    ("get", "/api/me"): "viewer",
    ("get", "/api/keys"): "admin",
    ("post", "/api/keys"): "admin",
    ("delete", "/api/keys/{key_id}"): "admin",
    ("get", "/api/workspaces"): "viewer",
    ("post", "/api/workspaces"): G,
    ("get", "/api/workspaces/{workspace}"): "viewer",
    ("get", "/api/workspaces/{workspace}/documents"): "viewer",
    ("post", "/api/workspaces/{workspace}/documents"): "admin",
    ("get", "/api/workspaces/{workspace}/documents/{document_id}/versions"): "viewer",
    ("get", "/api/workspaces/{workspace}/versions/{sha256}/text"): "viewer",
    ("get", "/api/workspaces/{workspace}/search"): "viewer",
    ("get", "/api/frameworks"): "viewer",
    ("get", "/api/frameworks/{framework}/clauses"): "viewer",
    ("get", "/api/workspaces/{workspace}/proposals"): "viewer",
    ("get", "/api/workspaces/{workspace}/proposals/{proposal_id}"): "viewer",
    ("post", "/api/workspaces/{workspace}/proposals/{proposal_id}/approve"): "reviewer",
    ("post", "/api/workspaces/{workspace}/proposals/{proposal_id}/reject"): "reviewer",
    ("post", "/api/workspaces/{workspace}/proposals/{proposal_id}/reopen"): "reviewer",
    ("post", "/api/workspaces/{workspace}/proposals/{proposal_id}/edit"): "reviewer",
    ("post", "/api/workspaces/{workspace}/proposals/{proposal_id}/settle"): "reviewer",
    ("get", "/api/workspaces/{workspace}/proposals/page"): "viewer",
    ("get", "/api/workspaces/{workspace}/proposals/counts"): "viewer",
    ("post", "/api/workspaces/{workspace}/proposals/bulk"): "reviewer",
    ("get", "/api/workspaces/{workspace}/proposals/clause/{framework}/{clause_id}"): "viewer",
    ("get", "/api/workspaces/{workspace}/not-applicable"): "viewer",
    ("put", "/api/workspaces/{workspace}/not-applicable/{framework}/{clause_id}"): "reviewer",
    ("delete", "/api/workspaces/{workspace}/not-applicable/{framework}/{clause_id}"): "reviewer",
    ("get", "/api/workspaces/{workspace}/audit"): "viewer",
    ("get", "/api/audit/verify"): G,
    ("get", "/api/audit/system"): G,
    ("get", "/api/audit/denied"): G,
    ("get", "/api/workspaces/{workspace}/coverage"): "viewer",
    ("get", "/api/workspaces/{workspace}/areas"): "viewer",
    ("get", "/api/workspaces/{workspace}/narrative"): "viewer",
    ("put", "/api/workspaces/{workspace}/narrative/profile"): "admin",
    ("post", "/api/workspaces/{workspace}/jobs"): "admin",
    ("get", "/api/workspaces/{workspace}/jobs"): "viewer",
    ("get", "/api/workspaces/{workspace}/jobs/{job_id}"): "viewer",
}
BELOW = {"reviewer": Role.viewer, "admin": Role.reviewer}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    # this module walks every route anonymously (hundreds of refusals a minute): no refusal limit here
    ctx = seeded_context(tmp_path_factory.mktemp("api"), denied_per_minute=1_000_000)
    tenants = {name: seed_tenant(ctx, name) for name in ("alpha", "beta", "gamma")}
    root, _ = create_key(ctx, Role.admin, None, name="root admin")
    with TestClient(create_app(ctx=ctx)) as client:
        for t in tenants.values():  # one finished mapping job per tenant, started by its admin
            job = client.post(f"/api/workspaces/{t.name}/jobs", json={"frameworks": ["soc2-tsc-2017"]},
                              headers=t.header(Role.admin)).json()
            t.proposals["job"] = job["id"]
        for t in tenants.values():
            _wait_for_job(client, t)
        yield client, tenants, {"Authorization": f"Bearer {root}"}
    ctx.close()


def _wait_for_job(client: TestClient, t: Tenant) -> dict:
    for _ in range(600):
        job = client.get(f"/api/workspaces/{t.name}/jobs/{t.proposals['job']}", headers=t.header(Role.viewer)).json()
        if job["status"] not in ("queued", "running"):
            assert job["status"] == "done", job
            return job
        time.sleep(0.05)
    raise AssertionError("the mapping job did not finish")


def operations(client: TestClient) -> list[tuple[str, str, dict]]:
    spec = client.get("/openapi.json").json()
    return [(method, path, op) for path, item in spec["paths"].items() for method, op in item.items()]


def fill(path: str, t: Tenant, proposal: str = "spare", **over) -> str:
    values = {"workspace": t.name, "document_id": t.documents[t.access_doc], "sha256": t.sha256,
              "proposal_id": t.proposals[proposal], "job_id": t.proposals["job"], "framework": "soc2-tsc-2017",
              "clause_id": "CC6.1",
              "key_id": 1, **over}
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)


def call(client: TestClient, method: str, url: str, headers: dict | None = None, body: bool = True):
    kwargs: dict = {"headers": headers or {}}
    if body and method in ("post", "put"):
        if url.endswith("/documents"):
            kwargs["files"] = {"file": ("walk.md", b"# Walk\n\nA policy uploaded by the route walk.\n")}
        elif url.endswith("/api/keys"):
            kwargs["json"] = {"role": "viewer", "name": "walk"}
        elif url.endswith("/api/workspaces"):
            kwargs["json"] = {"name": "walked"}
        elif url.endswith("/profile"):
            kwargs["json"] = {"profile": {"company_overview": "A walk."}}
        elif url.endswith("/jobs"):
            kwargs["json"] = {"frameworks": ["soc2-tsc-2017"]}
        elif url.endswith("/bulk"):
            kwargs["json"] = {"action": "reject", "ids": [], "comment": "walk"}
        elif "/not-applicable/" in url:
            kwargs["json"] = {"reason": "walk"}
        else:
            kwargs["json"] = {"comment": "walk"}
    return client.request(method.upper(), url + ("?q=marker" if url.endswith("/search") else ""), **kwargs)


def test_every_route_needs_a_key_and_the_role(service):
    client, tenants, root = service
    t = tenants["alpha"]
    ops = operations(client)
    assert {(m, p) for m, p, _ in ops} == set(REQUIRED), "a route was added or removed: list its role above"
    throwaway, _ = create_key(client.app.state.ctx, Role.viewer, t.name, name="throwaway")
    key_id = client.get("/api/keys", headers=t.header(Role.admin)).json()[-1]["id"]
    checked = 0
    for method, path, op in ops:
        need = REQUIRED[(method, path)]
        assert op["security"] == ([] if need is None else [{"apiKey": []}]), (method, path)
        url = fill(path, t, key_id=key_id)
        if need is None:
            assert call(client, method, url).status_code == 200
            continue
        for headers in ({}, {"Authorization": "Bearer cm_00000000_" + "x" * 32}, {"Authorization": "Basic abc"}):
            response = call(client, method, url, headers)
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
        smaller = [t.header(Role.admin)] if need == G else [t.header(BELOW[need])] if need in BELOW else []
        for headers in smaller:
            response = call(client, method, url, headers)
            assert response.status_code == 403, (method, path, response.text)
        allowed = root if need == G else t.header(Role(need))
        response = call(client, method, url, allowed)
        assert response.status_code < 400, (method, path, response.status_code, response.text)
        checked += 1
    assert checked == len(REQUIRED) - 1


def test_refusals_are_counted_per_client_apart_from_the_chain(service):
    client, tenants, root = service
    t = tenants["beta"]
    for _ in range(3):
        assert client.get("/api/workspaces/beta/proposals").status_code == 401
    assert client.post(f"/api/workspaces/beta/proposals/{t.proposals['spare']}/approve", json={},
                       headers=t.header(Role.viewer)).status_code == 403
    with client.app.state.ctx.store.session() as s:
        refusal_events = select(func.count()).where(AuditRow.target.like("%/api/workspaces/beta/proposals%"))
        assert s.scalar(refusal_events) == 0  # no audit event per refusal
        rows = {r.outcome: r for r in s.scalars(select(DeniedRequestRow).where(DeniedRequestRow.client == "testclient"))}
    assert rows["unauthenticated"].count >= 3 and rows["unauthenticated"].actor == "anonymous"
    assert t.canary in rows["forbidden"].actor and "/approve" in rows["forbidden"].last_target
    listed = client.get("/api/audit/denied", headers=root).json()
    assert any(r["client"] == "testclient" and r["outcome"] == "forbidden" and r["count"] >= 1 for r in listed)


def test_revoked_key_is_refused_at_once(service):
    client, tenants, root = service
    ctx = client.app.state.ctx
    key, info = create_key(ctx, Role.viewer, "gamma", name="short-lived")
    header = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/workspaces/gamma", headers=header).status_code == 200
    assert client.delete(f"/api/keys/{info.id}", headers=tenants["gamma"].header(Role.admin)).status_code == 200
    assert client.get("/api/workspaces/gamma", headers=header).status_code == 401


def test_workspace_admin_stays_in_its_workspace(service):
    client, tenants, root = service
    alpha = tenants["alpha"].header(Role.admin)
    made = client.post("/api/keys", json={"role": "admin", "name": "Alpha Admin"}, headers=alpha)
    assert made.json()["workspace"] == "alpha"
    assert client.post("/api/keys", json={"role": "admin", "workspace": "beta", "name": "Beta Admin"},
                       headers=alpha).status_code == 403
    assert client.post("/api/workspaces", json={"name": "delta"}, headers=alpha).status_code == 403
    beta_key = next(k for k in client.get("/api/keys", headers=root).json() if k["workspace"] == "beta")
    assert client.delete(f"/api/keys/{beta_key['id']}", headers=alpha).status_code == 404
    assert {k["workspace"] for k in client.get("/api/keys", headers=alpha).json()} == {"alpha"}


def test_keys_are_stored_hashed(service):
    client, tenants, _ = service
    from rag.store import ApiKeyRow

    with client.app.state.ctx.store.session() as s:
        stored = [r.key_hash for r in s.scalars(select(ApiKeyRow))]
    secrets = [k.split("_", 2)[2] for t in tenants.values() for k in t.keys.values()]
    assert stored and all(h.startswith("hmac-sha256$") for h in stored)
    assert not any(secret in h for secret in secrets for h in stored)
    assert len({h.split("$")[1] for h in stored}) == len(stored), "every key has its own salt"


# --- tenant isolation ---------------------------------------------------------------------------------


def read_routes(client: TestClient) -> list[str]:
    return [p for m, p, _ in operations(client) if m == "get" and p != "/health"]


def test_three_tenants_never_see_each_other(service):
    client, tenants, _ = service
    routes = read_routes(client)
    assert len(routes) >= 18
    for t in tenants.values():
        others = [o.canary for o in tenants.values() if o is not t]
        seen_own, reads = False, 0
        for role in (Role.viewer, Role.admin):
            for path in routes:
                for proposal in ("access", "triage"):
                    response = call(client, "get", fill(path, t, proposal), t.header(role))
                    need = REQUIRED[("get", path)]
                    if need == G or Role(need).rank > role.rank:
                        assert response.status_code == 403
                        continue
                    assert response.status_code == 200, (path, response.text)
                    reads += 1
                    leaked = [c for c in others if c in response.text]
                    assert not leaked, f"{path} in {t.name} shows another tenant's data: {leaked}"
                    seen_own = seen_own or t.canary in response.text
        assert seen_own and reads > 40


def test_forged_workspace_or_ids_are_refused(service):
    client, tenants, root = service
    alpha, beta = tenants["alpha"], tenants["beta"]
    for path in read_routes(client):
        if "{workspace}" not in path:
            continue
        # alpha's key on beta's workspace: 403, whatever ids follow
        assert call(client, "get", fill(path, beta), alpha.header(Role.admin)).status_code == 403, path
        # a workspace that does not exist, even for an unbound admin: 404
        assert call(client, "get", fill(path, alpha, workspace="forged-ws"), root).status_code == 404, path
        # alpha's workspace with beta's object ids: 404 (the ids exist, but not here)
        if re.search(r"\{(proposal_id|document_id|sha256|job_id)\}", path):
            url = fill(path, alpha, document_id=beta.documents[beta.access_doc], sha256=beta.sha256,
                       proposal_id=beta.proposals["access"], job_id=beta.proposals["job"])
            assert call(client, "get", url, alpha.header(Role.admin)).status_code == 404, path
    for action in ("approve", "reject", "reopen", "edit"):
        assert client.post(f"/api/workspaces/alpha/proposals/{beta.proposals['spare']}/{action}", json={},
                           headers=alpha.header(Role.admin)).status_code == 404
        assert client.post(f"/api/workspaces/beta/proposals/{beta.proposals['spare']}/{action}", json={},
                           headers=alpha.header(Role.admin)).status_code == 403
    spare = client.get(f"/api/workspaces/beta/proposals/{beta.proposals['spare']}", headers=beta.header(Role.viewer))
    assert spare.json()["status"] == "proposed" and not spare.json()["decisions"]
    assert client.get("/api/workspaces", headers=alpha.header(Role.viewer)).json()[0]["name"] == "alpha"
    assert len(client.get("/api/workspaces", headers=alpha.header(Role.viewer)).json()) == 1
    assert client.get("/api/workspaces/alpha/search?q=" + beta.canary, headers=alpha.header(Role.viewer)).json() == []
