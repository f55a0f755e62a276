"""The review workflow through the API: uploads through the ingestion pipeline (its errors as 4xx), drift
after a new version, crosswalk propagation on approval, edits that must quote verbatim, mapping jobs with
progress, and the CLI verbs that go with them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from rag.auth import Role, authenticate
from rag.store import AuditRow
from tests.test_api_seed import ACCESS_REVIEW, LESSONS, MFA, access_policy, seed_tenant, seeded_context
from tests.test_web import sign_in


@pytest.fixture(scope="module")
def acme(tmp_path_factory):
    ctx = seeded_context(tmp_path_factory.mktemp("workflow"))
    tenant = seed_tenant(ctx, "acme")
    with TestClient(create_app(ctx=ctx)) as client:
        yield client, tenant
    ctx.close()


def proposal(client, t, label: str) -> dict:
    return client.get(f"/api/workspaces/acme/proposals/{t.proposals[label]}", headers=t.header(Role.viewer)).json()


def decide(client, t, label: str, action: str, **body):
    return client.post(f"/api/workspaces/acme/proposals/{t.proposals[label]}/{action}", json=body,
                       headers=t.header(Role.reviewer))


def upload(client, t, name: str, data: bytes, role: Role = Role.admin):
    return client.post("/api/workspaces/acme/documents", files={"file": (name, data)}, headers=t.header(role))


@pytest.mark.parametrize("name, data, status, reason", [
    ("empty.md", b"", 422, "empty"),
    ("../escape.md", b"# Escape\n\nText.\n", 400, "bad-path"),
    ("tool.exe", b"MZ\x90\x00\x03" + bytes(range(256)) * 4, 415, "unsupported-type"),
    ("huge.md", b"# Huge\n\n" + b"word " * 230_000, 413, "too-large"),
])
def test_upload_errors_are_4xx_with_a_reason(acme, name, data, status, reason):
    client, t = acme
    response = upload(client, t, name, data)
    assert response.status_code == status, response.text
    assert response.json()["reason"] == reason and response.json()["error"] == "ingest"
    with client.app.state.ctx.store.session() as s:
        event = s.scalars(select(AuditRow).where(AuditRow.action == "document.ingest")
                          .order_by(AuditRow.seq.desc())).first()
    assert event.outcome == "rejected" and event.detail["reason"] == reason


def test_upload_new_and_unchanged(acme):
    client, t = acme
    data = b"# Vendor Policy\n\nVendors are reviewed every year before renewal.\n"
    first = upload(client, t, "vendor.md", data)
    assert first.status_code == 201 and first.json()["status"] == "ingested" and first.json()["passages"] >= 1
    again = upload(client, t, "vendor.md", data)
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    assert upload(client, t, "vendor.md", data, Role.reviewer).status_code == 403
    names = [d["name"] for d in client.get("/api/workspaces/acme/documents", headers=t.header(Role.viewer)).json()]
    assert "vendor.md" in names


def test_approval_proposes_the_evidence_for_crosswalk_linked_clauses(acme):
    client, t = acme
    response = decide(client, t, "lessons", "approve", comment="covers lessons learned")
    assert response.status_code == 200
    made = response.json()["propagated"]
    assert {p["clause_id"] for p in made} >= {"A.5.27", "A.5.24"}
    assert all(p["method"] == "crosswalk" and p["status"] == "proposed" for p in made)
    assert all(p["origin_proposal_id"] == t.proposals["lessons"] for p in made)
    assert all(p["citations"][0]["quote"] == LESSONS for p in made)
    detail = proposal(client, t, "lessons")
    assert detail["status"] == "approved" and detail["decisions"][-1]["comment"] == "covers lessons learned"
    assert {d["clause_id"] for d in detail["derived"]} == {p["clause_id"] for p in made}
    assert decide(client, t, "lessons", "approve").json()["propagated"] == []  # never proposed twice


def test_edit_must_quote_verbatim(acme):
    client, t = acme
    bad = decide(client, t, "triage", "edit", quotes=["Incidents are ignored."], comment="try")
    assert bad.status_code == 422 and "verbatim" in bad.json()["message"]
    good = decide(client, t, "triage", "edit", quotes=["Alerts come from centralized logging."], coverage="full")
    assert good.status_code == 200
    edited = good.json()["proposal"]
    assert edited["coverage"] == "full" and edited["citations"][0]["quote"] == "Alerts come from centralized logging."
    assert decide(client, t, "triage", "edit", coverage="most").status_code == 422


def test_new_version_sends_changed_citations_back_to_review(acme):
    client, t = acme
    assert decide(client, t, "mfa", "approve").status_code == 200
    assert decide(client, t, "spare", "approve").status_code == 200
    changed = access_policy(t.canary).replace(ACCESS_REVIEW, "Managers review access twice a year.")
    response = upload(client, t, t.access_doc, changed.encode())
    assert response.status_code == 201 and response.json()["status"] == "new-version"
    drift = response.json()["drift"]
    assert {t.proposals["access"], t.proposals["spare"]} <= set(drift["needs_review"])
    assert t.proposals["mfa"] in drift["reanchored"]
    for pid in drift["needs_review"]:  # crosswalk suggestions quoting the same sentence go back too
        moved = client.get(f"/api/workspaces/acme/proposals/{pid}", headers=t.header(Role.viewer)).json()
        assert moved["status"] == "needs-review" and moved["drift"]["missing_quotes"] == [ACCESS_REVIEW]
    access = proposal(client, t, "access")
    assert access["status"] == "needs-review"
    assert access["drift"]["missing_quotes"] == [ACCESS_REVIEW] and access["drift"]["previous_status"] == "approved"
    assert [c["quote"] for c in access["citations"]] == [f"The marker {t.canary} identifies this tenant."]
    assert access["contexts"][0]["quote"] == access["citations"][0]["quote"]
    mfa = proposal(client, t, "mfa")
    assert mfa["status"] == "approved" and mfa["document_sha256"] == response.json()["sha256"]
    assert mfa["citations"][0]["quote"] == MFA
    assert decide(client, t, "spare", "approve").status_code == 409  # no citation survived
    queue = client.get("/api/workspaces/acme/proposals?status=needs-review", headers=t.header(Role.viewer)).json()
    assert {p["id"] for p in queue} == set(drift["needs_review"])
    browser = TestClient(client.app)
    sign_in(browser, t.keys[Role.viewer])
    page = browser.get("/w/acme/review?status=needs-review")
    assert page.status_code == 200 and "CC6.1" in page.text and "A.5.18" in page.text


def test_filters_by_framework_status_and_confidence(acme):
    client, t = acme
    get = lambda q: client.get(f"/api/workspaces/acme/proposals?{q}", headers=t.header(Role.viewer)).json()
    assert {p["framework"] for p in get("framework=iso27001-2022")} == {"iso27001-2022"}
    assert {p["status"] for p in get("status=approved")} == {"approved"}
    assert all(p["confidence"] >= 0.95 for p in get("min_confidence=0.95"))
    assert all(p["confidence"] <= 0.5 for p in get("max_confidence=0.5"))
    assert client.get("/api/workspaces/acme/proposals?status=maybe", headers=t.header(Role.viewer)).status_code == 422


def test_mapping_job_reports_progress(acme):
    client, t = acme
    job = client.post("/api/workspaces/acme/jobs", json={"frameworks": ["nist-ai-rmf-1.0"]},
                      headers=t.header(Role.admin))
    assert job.status_code == 202 and job.json()["status"] in ("queued", "running", "done")
    seen = set()
    for _ in range(600):
        state = client.get(f"/api/workspaces/acme/jobs/{job.json()['id']}", headers=t.header(Role.viewer)).json()
        seen.add(state["status"])
        if state["status"] not in ("queued", "running"):
            break
        __import__("time").sleep(0.05)
    assert state["status"] == "done" and state["progress"] == 1.0, state
    assert state["stats"]["clauses"] == 72 and "saved" in state["stats"]
    assert client.post("/api/workspaces/acme/jobs", json={"frameworks": ["nope"]},
                       headers=t.header(Role.admin)).status_code == 404


def test_narrative_profile_and_citations(acme):
    client, t = acme
    put = client.put("/api/workspaces/acme/narrative/profile", headers=t.header(Role.admin),
                     json={"profile": {"organization": {"legal_name": "Acme Corp"}, "report": {"system_name": "Acme Cloud"},
                                   "company_overview": "Acme sells."}})
    assert put.status_code == 200 and put.json()["title"].startswith("Acme Corp")
    story = client.get("/api/workspaces/acme/narrative", headers=t.header(Role.viewer)).json()
    quoted = [st for sec in story["sections"] for sub in [sec, *sec["subsections"]] for st in sub["statements"]
              if st["citations"]]
    assert quoted and story["problems"] == []
    assert any(st["text"] == " ".join(LESSONS.split()) for st in quoted)


def test_cli_keys_and_review_parity(acme):
    client, t = acme
    ctx = client.app.state.ctx
    data = ["--data-dir", str(ctx.settings.data_dir), "--workspace", "acme"]
    runner = CliRunner()
    made = runner.invoke(cli, [*data, "keys", "create", "--role", "reviewer", "--workspace", "acme", "--name", "cli"])
    assert made.exit_code == 0, made.output
    key = made.output.split()[0]
    principal = authenticate(ctx, key)
    assert principal.role == Role.reviewer and principal.workspace == "acme"
    assert runner.invoke(cli, [*data, "keys", "create", "--role", "owner"]).exit_code != 0
    listed = runner.invoke(cli, [*data, "review", "list", "--status", "proposed", "--json"])
    assert listed.exit_code == 0 and '"clause_id"' in listed.output
    pid = str(t.proposals["triage"])
    assert runner.invoke(cli, [*data, "review", "reject", pid, "-m", "no", "--as", "cli"]).exit_code == 0
    assert proposal(client, t, "triage")["status"] == "rejected"
    approved = runner.invoke(cli, [*data, "review", "approve", pid, "--as", "cli"])
    assert approved.exit_code == 0 and "now approved" in approved.output
    suggested = [d for d in client.get(f"/api/workspaces/acme/proposals/{pid}", headers=t.header(Role.viewer)).json()
                 ["derived"]]
    assert suggested and f"suggested through crosswalks, awaiting review: {suggested[0]['framework']}" in \
        " ".join(approved.output.split())
    assert runner.invoke(cli, [*data, "coverage", "--json"]).exit_code == 0
    verified = runner.invoke(cli, [*data, "audit", "verify"])
    assert verified.exit_code == 0 and "intact" in verified.output
