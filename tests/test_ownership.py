"""Regression tests for the ownership issue, through the CLI and the API: one definition of "current",
drift that cannot be lost, mapping runs that account for every change, reads that create nothing, vector
collections that tenants never share, and the same audit events and numbers from every face."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from evals.crash import TOPICS, policy
from rag import audit, workflows
from rag.auth import Role, create_key
from rag.context import Context
from rag.corpus import document_ids, load_passages, texts_by_sha
from rag.mapping import MappingRun
from rag.models import Action, Status
from rag.review import Edit, list_proposals, save_run
from rag.samples import sample_dir
from rag.settings import Settings

ACCESS_V1 = """# Access Control Policy

## Provisioning

Access to production systems is granted on a least-privilege basis after written manager approval.
Every account belongs to one named person and uses single sign-on with multi-factor authentication.
"""
EXTRA = """
## Reviews

System owners review all user access every quarter and remove anything no longer needed.
"""
QUOTE_X = "System owners review all user access every quarter and remove anything no longer needed."


def _folder(tmp_path: Path) -> Path:
    """A small organization: four other policies beside the access policy (scores need more than one)."""
    folder = tmp_path / "policies"
    folder.mkdir(exist_ok=True)
    for topic, lines in TOPICS[1:5]:
        (folder / f"{topic.lower().replace(' ', '-')}.md").write_text(policy(topic, lines))
    (folder / "access.md").write_text(ACCESS_V1 + EXTRA)
    return folder


def _run(data: Path, *args: str, workspace: str = "acme"):
    result = CliRunner().invoke(cli, ["--data-dir", str(data), "--workspace", workspace, *args])
    return result


def _ctx(data: Path) -> Context:
    return Context(Settings.load("offline", data_dir=data))


def test_restoring_an_older_version_sends_approvals_on_vanished_text_back_to_review(tmp_path):
    data, folder = tmp_path / "data", _folder(tmp_path)
    doc = folder / "access.md"
    doc.write_text(ACCESS_V1)
    assert _run(data, "ingest", str(folder)).exit_code == 0
    doc.write_text(ACCESS_V1 + EXTRA)
    assert _run(data, "ingest", str(doc)).exit_code == 0
    assert _run(data, "map", "-f", "soc2-tsc-2017").exit_code == 0
    ctx = _ctx(data)
    target = next(p for p in list_proposals(ctx, "acme", status="proposed") if p.document_name == "access.md")
    ctx.close()
    assert _run(data, "review", "edit", str(target.id), "--quote", QUOTE_X).exit_code == 0
    assert _run(data, "review", "approve", str(target.id)).exit_code == 0

    doc.write_text(ACCESS_V1)  # v1's bytes again: v1 is current once more, and X is gone
    restored = _run(data, "ingest", "--json", str(doc))
    assert restored.exit_code == 0, restored.output
    assert target.id in json.loads(restored.stdout)[0]["drift"]["needs_review"]
    listed = _run(data, "documents", "list")
    assert _run(data, "map", "-f", "soc2-tsc-2017").exit_code == 0

    ctx = _ctx(data)
    back = next(p for p in list_proposals(ctx, "acme") if p.id == target.id)
    assert back.status == Status.needs_review and back.drift["missing_quotes"] == [QUOTE_X]
    current = load_passages(ctx, "acme")
    current_sha = next(p.document_sha256 for p in current.passages if p.document_id == target.document_id)
    assert current_sha[:12] in listed.output  # documents list shows the restored version
    texts = texts_by_sha(ctx)
    for p in list_proposals(ctx, "acme", document_id=target.document_id):
        if p.status in (Status.proposed, Status.approved, Status.needs_review):
            assert p.document_sha256 == current_sha, p
        for c in p.citations:  # every stored proposal references the version its citations quote
            assert c.document_sha256 == p.document_sha256 and texts[c.document_sha256][c.start:c.end] == c.quote
    approved = list_proposals(ctx, "acme", status="approved", document_id=target.document_id)
    assert all(c.quote in texts[current_sha] for p in approved for c in p.citations)
    ctx.close()


def test_a_read_never_creates_a_workspace(tmp_path):
    data, doc = tmp_path / "data", tmp_path / "access.md"
    doc.write_text(ACCESS_V1)
    assert _run(data, "ingest", str(doc)).exit_code == 0
    typo = _run(data, "documents", "list", workspace="acmee")
    assert typo.exit_code == 4 and "no workspace 'acmee'" in typo.output and "acme" in typo.output
    assert _run(data, "coverage", workspace="acmee").exit_code == 4
    ctx = _ctx(data)
    assert ctx.store.workspaces() == ["acme"]
    ctx.close()


def test_cli_ingest_writes_the_audit_events_the_api_writes(tmp_path):
    data, folder = tmp_path / "data", tmp_path / "policies"
    folder.mkdir()
    (folder / "access.md").write_text(ACCESS_V1)
    (folder / "empty.md").write_text("")
    assert _run(data, "ingest", str(folder)).exit_code == 3
    ctx = _ctx(data)
    with ctx.store.session() as s:
        cli_events = {(e["action"], e["outcome"], e["target"]) for e in audit.events(s, "acme")}
    ctx.close()
    assert ("document.ingest", "ok", "document:access.md") in cli_events
    assert ("document.ingest", "rejected", "document:empty.md") in cli_events

    app_ctx = Context(Settings.load("offline", data_dir=tmp_path / "api"))
    app_ctx.workspace("acme", create=True)
    key, _ = create_key(app_ctx, Role.admin, "acme", name="ana")
    with TestClient(create_app(ctx=app_ctx)) as client:
        auth = {"Authorization": f"Bearer {key}"}
        for name in ("access.md", "empty.md"):
            client.post("/api/workspaces/acme/documents", headers=auth,
                        files={"file": (name, (folder / name).read_bytes())})
        events = client.get("/api/workspaces/acme/audit", headers=auth).json()
    api_events = {(e["action"], e["outcome"], e["target"]) for e in events}
    assert {e for e in cli_events if e[0] == "document.ingest"} <= api_events
    app_ctx.close()


def test_an_edited_proposal_the_run_no_longer_makes_never_blocks_mapping(ctx, tmp_path):
    ws = workflows.ingest_documents(ctx, "acme", [str(_folder(tmp_path))], "ana").workspace
    first = workflows.run_mapping(ctx, ws, ["soc2-tsc-2017"], "ana")
    edited, plain = first.run.proposals[0], first.run.proposals[1]
    stored = {(p.clause_id, p.document_id): p.id for p in list_proposals(ctx, ws)}
    edited_id, plain_id = stored[(edited.clause_id, edited.document_id)], stored[(plain.clause_id, plain.document_id)]
    workflows.decide(ctx, ws, edited_id, "ana", Action.edit, edit=Edit(rationale="checked with the owner"))
    # a run that ranks a different document first for both clauses, and proposes it
    other = MappingRun(run_id="r2", workspace=ws, frameworks=["soc2-tsc-2017"])
    elsewhere = next(d for d in document_ids(ctx, ws).values() if d not in (edited.document_id, plain.document_id))
    other.rankings = {f"soc2-tsc-2017:{p.clause_id}": [(elsewhere, 0.9)] for p in (edited, plain)}
    other.proposals = []
    save_run(ctx, ws, other)  # used to fail with a foreign-key error on the edited proposal
    by_id = {p.id: p for p in list_proposals(ctx, ws)}
    assert by_id[edited_id].status == Status.proposed  # touched by a person: kept as it is
    assert by_id[plain_id].status == Status.proposed  # the clause has nothing else: its evidence stays
    again = workflows.run_mapping(ctx, ws, ["soc2-tsc-2017"], "ana")
    assert again.saved.superseded == 0 and all(p.id in by_id for p in list_proposals(ctx, ws))


def test_a_superseded_proposal_is_kept_with_an_audit_event(ctx, tmp_path):
    folder = _folder(tmp_path)
    (folder / "other.md").write_text("# Other\n\n## Notes\n\nAccess is reviewed by owners every quarter.\n")
    ws = workflows.ingest_documents(ctx, "acme", [str(folder)], "ana").workspace
    first = workflows.run_mapping(ctx, ws, ["soc2-tsc-2017"], "ana")
    old = next(p for p in first.run.proposals if p.document_name == "access.md")
    other_id = document_ids(ctx, ws)["other.md"]
    run = MappingRun(run_id="r2", workspace=ws, frameworks=["soc2-tsc-2017"],
                     rankings={f"soc2-tsc-2017:{old.clause_id}": [(other_id, 0.9)]})
    run.proposals = [old.model_copy(update={"document_id": other_id, "document_name": "other.md"})]
    stats = save_run(ctx, ws, run)
    assert stats.superseded == 1
    kept = [p for p in list_proposals(ctx, ws, clause_id=old.clause_id) if p.document_id == old.document_id]
    assert kept and kept[0].status == Status.superseded  # kept for the record, not deleted
    with ctx.store.session() as s:
        events = [e for e in audit.events(s, ws, 500) if e["action"] == "proposal.supersede"]
        assert [e["target"] for e in events] == [f"proposal:{kept[0].id}"]
        assert audit.verify(s).ok
    again = workflows.run_mapping(ctx, ws, ["soc2-tsc-2017"], "ana")  # the pipeline proposes it again
    revived = [p for p in list_proposals(ctx, ws, clause_id=old.clause_id) if p.document_id == old.document_id]
    assert again.saved.updated >= 1 and revived[0].status == Status.proposed


def test_new_documents_never_turn_a_clause_into_a_gap(tmp_path):
    ctx = _ctx(tmp_path / "data")
    with sample_dir() as sample:
        workflows.ingest_documents(ctx, "org", [str(sample / "policies")], "ana")
    keys = ctx.catalog.primary()
    before = workflows.run_mapping(ctx, "org", keys, "ana").coverage
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "travel.md").write_text("# Travel Policy\n\n## Bookings\n\nStaff book travel through the approved "
                                     "agency and keep receipts for expense claims.\n")
    (extra / "badges.md").write_text("# Office Badge Procedure\n\n## Issuing badges\n\nReception issues a "
                                     "photo badge to each employee on the first day and collects it on the last.\n")
    workflows.ingest_documents(ctx, "org", [str(extra)], "ana")
    after = workflows.run_mapping(ctx, "org", keys, "ana")
    gaps_before = {(c.framework, c.clause_id) for c in before.gaps()}
    gaps_after = {(c.framework, c.clause_id) for c in after.coverage.gaps()}
    assert gaps_after <= gaps_before, sorted(gaps_after - gaps_before)[:10]
    ctx.close()


def test_map_coverage_api_and_job_report_the_same_numbers(tmp_path):
    data = tmp_path / "data"
    assert _run(data, "ingest", str(_folder(tmp_path))).exit_code == 0
    mapped = _run(data, "map", "--json", "-f", "soc2-tsc-2017", "-f", "iso27001-2022")
    from_map = {r["framework"]: r["gaps"] for r in json.loads(mapped.stdout)["coverage"]}
    covered = json.loads(_run(data, "coverage", "--json", "-f", "soc2-tsc-2017", "-f", "iso27001-2022").stdout)
    from_coverage = {f["key"]: f["gaps"] for f in covered["frameworks"]}
    ctx = _ctx(data)
    key, _ = create_key(ctx, Role.admin, "acme", name="ana")
    with TestClient(create_app(ctx=ctx)) as client:
        auth = {"Authorization": f"Bearer {key}"}
        api = client.get("/api/workspaces/acme/coverage", headers=auth,
                         params={"framework": ["soc2-tsc-2017", "iso27001-2022"]}).json()
        job = client.post("/api/workspaces/acme/jobs", headers=auth,
                          json={"frameworks": ["soc2-tsc-2017", "iso27001-2022"]}).json()
        for _ in range(600):
            job = client.get(f"/api/workspaces/acme/jobs/{job['id']}", headers=auth).json()
            if job["status"] not in ("queued", "running"):
                break
            import time
            time.sleep(0.1)
    ctx.close()
    from_api = {f["key"]: f["gaps"] for f in api["frameworks"]}
    assert from_map == from_coverage == from_api
    assert job["status"] == "done" and job["stats"]["gaps"] == sum(from_map.values())
    assert "not mapped" not in from_map.values()


def test_frameworks_never_mapped_are_not_counted_as_gaps(tmp_path):
    data, doc = tmp_path / "data", tmp_path / "access.md"
    doc.write_text(ACCESS_V1)
    assert _run(data, "ingest", str(doc)).exit_code == 0
    assert _run(data, "map", "-f", "soc2-tsc-2017").exit_code == 0
    report = json.loads(_run(data, "coverage", "--json").stdout)
    by_key = {f["key"]: f for f in report["frameworks"]}
    assert by_key["soc2-tsc-2017"]["mapped"] and by_key["soc2-tsc-2017"]["gaps"] > 0
    assert not by_key["iso42001-2023"]["mapped"] and by_key["iso42001-2023"]["gaps"] == 0


def test_workspaces_with_alike_names_never_share_vectors(tmp_path):
    data, doc = tmp_path / "data", _folder(tmp_path)
    long_a, long_b = "a" * 48 + "-one", "a" * 48 + "-two"
    for ws in ("acme_corp", "acme-corp", long_a, long_b):
        assert _run(data, "ingest", str(doc), workspace=ws).exit_code == 0
    ctx = _ctx(data)
    names = {ctx.index.collection_name(ws) for ws in ("acme_corp", "acme-corp", long_a, long_b)}
    assert len(names) == 4
    counts = {ws: len(ctx.index.ids(ws)) for ws in ("acme_corp", "acme-corp")}
    ctx.close()
    assert _run(data, "map", "-f", "soc2-tsc-2017", workspace="acme_corp").exit_code == 0
    ctx = _ctx(data)
    assert {ws: len(ctx.index.ids(ws)) for ws in ("acme_corp", "acme-corp")} == counts and min(counts.values()) > 0
    ctx.close()


def test_a_missing_or_unreadable_vector_index_is_rebuilt_with_a_message(tmp_path, monkeypatch):
    import shutil

    data, doc = tmp_path / "data", tmp_path / "access.md"
    doc.write_text(ACCESS_V1 + EXTRA)
    assert _run(data, "ingest", str(doc)).exit_code == 0
    shutil.rmtree(data / "chroma")
    assert _run(data, "map", "-f", "soc2-tsc-2017").exit_code == 0
    from rag.index import VectorIndex

    calls = {"n": 0}
    real = VectorIndex.ids

    def broken_once(self, workspace):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("Error executing plan: Internal error: Error creating hnsw segment reader")
        return real(self, workspace)

    monkeypatch.setattr(VectorIndex, "ids", broken_once)
    result = _run(data, "map", "-f", "soc2-tsc-2017")
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert calls["n"] >= 2


@pytest.mark.parametrize("face", ["cli", "api", "web"])
def test_every_face_gives_the_same_narrative(demo_run, tmp_path, face):
    from rag.narrate import load_profile

    ctx, _ = demo_run
    with sample_dir() as sample:
        profile_file = sample / "system-profile.yaml"
        expected = workflows.describe_system(ctx, "demo", load_profile(profile_file))
        texts = [st.text for sec in expected.sections for st in sec.statements]
        assert texts and expected.problems == []
        if face == "cli":
            out = tmp_path / "out"
            result = CliRunner().invoke(cli, ["--data-dir", str(ctx.settings.data_dir), "-w", "demo", "narrate",
                                              "--profile", str(profile_file), "--out", str(out)])
            assert result.exit_code == 0, result.output
            md = " ".join((out / "system-description.md").read_text().split())
            assert all(" ".join(t.split())[:60] in md for t in texts)
            return
    key, _ = create_key(ctx, Role.viewer, "demo", name="vera")
    with TestClient(create_app(ctx=ctx)) as client:
        auth = {"Authorization": f"Bearer {key}"}
        if face == "api":
            got = client.get("/api/workspaces/demo/narrative", headers=auth).json()
            assert [st["text"] for sec in got["sections"] for st in sec["statements"]] == texts
            assert got["title"] == expected.title
        else:
            page = client.get("/w/demo/narrative", headers=auth).text
            import html

            body = " ".join(html.unescape(page).split())
            assert all(" ".join(t.split())[:60] in body for t in texts)
