"""`ctrlmap demo` end to end, offline: outputs, verified citations, reuse on a second run."""

import json
import time

from typer.testing import CliRunner

from api.cli import app
from rag.demo import run_demo
from rag.narrate import statements


def test_demo_outputs(demo_run):
    ctx, result = demo_run
    out = result.out
    for name in ("coverage.md", "coverage.png", "proposals.csv", "proposals.json", "system-description.md",
                 "system-description.docx"):
        assert (out / name).stat().st_size > 200, name
    assert sum(r.status == "ingested" for r in result.ingest) >= 14
    assert {r.name.rsplit(".", 1)[1] for r in result.ingest} >= {"md", "docx", "pdf"}
    assert result.decisions.applied >= 30 and not result.decisions.errors
    assert result.citations_total > 100 and result.citations_verified == result.citations_total
    assert not result.narrative_problems
    by_fw = {row["framework"]: row for row in result.summary}
    assert set(by_fw) == {"SOC 2", "ISO 27001", "ISO 42001", "NIST AI RMF"}
    assert all(row["gaps"] > 0 for row in by_fw.values()), "the sample leaves real gaps"
    assert all(row["covered"] > 0 for row in by_fw.values())


def test_every_citation_verifies_against_texts(demo_run):
    _, result = demo_run
    proposals = json.loads((result.out / "proposals.json").read_text(encoding="utf-8"))
    assert proposals and all({"framework", "clause_id", "document_id", "status", "confidence", "citations"} <= set(p)
                             for p in proposals)
    statuses = {p["status"] for p in proposals}
    assert {"approved", "rejected", "proposed"} <= statuses
    for p in proposals:
        assert p["citations"], p
        for c in p["citations"]:
            text = (result.out / "texts" / f"{c['document_sha256']}.txt").read_bytes().decode("utf-8")
            assert text[c["start"]:c["end"]] == c["quote"]


def test_narrative_cites_only_approved_mappings(demo_run):
    ctx, result = demo_run
    from rag.narrate import load_profile, narrative
    from rag.review import list_proposals
    from rag.samples import sample_dir

    approved = {p.id for p in list_proposals(ctx, "demo", status="approved")}
    with sample_dir() as sample:
        sections = narrative(ctx, "demo", load_profile(sample / "system-profile.yaml"))
    policy_statements = [s for s in statements(sections) if s.citations]
    assert policy_statements and all(set(s.proposal_ids) <= approved for s in policy_statements)
    assert {sec.key for sec in sections} == {f"DC{i}" for i in range(1, 10)}
    md = (result.out / "system-description.md").read_text(encoding="utf-8")
    assert "## 4. Trust services criteria and related controls" in md and "[^1]" in md


def test_second_run_reuses_stored_work(demo_run, monkeypatch):
    ctx, first = demo_run
    calls = []
    monkeypatch.setattr("rag.ingest.pipeline.parse_bytes", lambda *a, **k: calls.append("parse"))
    original_add = ctx.index.add
    monkeypatch.setattr(ctx.index, "add", lambda *a, **k: calls.append("embed") or original_add(*a, **k))
    started = time.perf_counter()
    second = run_demo(ctx, first.out)
    assert time.perf_counter() - started < sum(first.timings.values())
    assert all(r.status == "unchanged" for r in second.ingest)
    assert calls == []
    assert second.decisions.applied == 0 and second.decisions.already >= 30
    assert second.citations_verified == second.citations_total


def test_frameworks_list_json(tmp_path):
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "frameworks", "list", "--json"])
    assert result.exit_code == 0, result.output
    data = {f["key"]: f for f in json.loads(result.output)}
    assert data["soc2-tsc-2017"]["by_kind"]["criterion"] == 61
    assert data["nist-ai-rmf-1.0"]["by_kind"]["subcategory"] == 72
