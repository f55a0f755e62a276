"""What reaches the auditor, on the sample company: the description's readiness (nine DC 200 elements),
whole-sentence statements that all trace and verify, a rejection removing text from the next draft, the
control matrix and the 93-control Statement of Applicability, exports with every citation, an OSCAL
component definition that validates, and an evidence bundle whose own script verifies it without ctrlmap."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import zipfile

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from rag.auth import Role, create_key
from rag.context import Context
from rag.narrate import check, narrative, statements
from rag.profile import current
from rag.prose import artefacts
from rag.review import list_proposals
from rag.settings import Settings


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The demo, run in a data directory of its own (this module rejects a proposal in it)."""
    from rag.demo import run_demo

    base = tmp_path_factory.mktemp("deliver")
    ctx = Context(Settings.load("offline", data_dir=base / "data"))
    run_demo(ctx, base / "demo-out")
    yield ctx, base
    ctx.close()


def _cli(ctx, *args):
    result = CliRunner().invoke(app, ["--data-dir", str(ctx.settings.data_dir), "--workspace", "demo", *args])
    return result


def test_check_shows_all_nine_elements_present(sample):
    ctx, _ = sample
    result = _cli(ctx, "narrate", "--check", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [e["key"] for e in report["elements"]] == [f"DC{i}" for i in range(1, 10)]
    assert all(e["status"] == "present" for e in report["elements"]), report["elements"]
    assert report["problems"] == []
    unsupported = [c["id"] for c in report["criteria"] if c["status"] == "unsupported"]
    assert unsupported and _cli(ctx, "narrate", "--check", "--strict").exit_code == 1  # the sample has gaps


def test_statements_are_whole_sentences_that_trace(sample):
    ctx, base = sample
    profile = current(ctx, "demo")
    sections = narrative(ctx, "demo", profile)
    assert check(ctx, "demo", sections, profile) == []
    quoted = [st for st in statements(sections) if st.citations]
    assert len(quoted) >= 40
    assert not [st.text for st in statements(sections) if artefacts(st.text)]
    assert all(st.text[0].isupper() or st.text[0].isdigit() for st in quoted)
    assert all(st.text.rstrip("\"')").endswith((".", "!", "?")) for st in quoted)
    result = _cli(ctx, "narrate", "--out", str(base / "narrate"))
    assert result.exit_code == 0, result.output
    md = (base / "narrate" / "system-description.md").read_text(encoding="utf-8")
    for heading in ("Principal service commitments", "System boundaries", "Control environment",
                    "Complementary user entity controls", "carve-out method", "CC6.1 Logical access security"):
        assert heading in md, heading
    import docx

    document = docx.Document(str(base / "narrate" / "system-description.docx"))
    assert len(document.tables) >= 6 and any(p.style.name.startswith("Heading") for p in document.paragraphs)


def test_rejecting_a_proposal_removes_its_text(sample):
    ctx, _ = sample
    sections = narrative(ctx, "demo", current(ctx, "demo"))
    by_proposal: dict[int, set[str]] = {}
    for st in statements(sections):
        for pid in st.proposal_ids:
            by_proposal.setdefault(pid, set()).add(st.text)
    others = {pid: set().union(*(t for p, t in by_proposal.items() if p != pid)) for pid in by_proposal}
    pid = next(p for p, texts in sorted(by_proposal.items()) if texts - others[p])
    own = by_proposal[pid] - others[pid]
    result = _cli(ctx, "review", "reject", str(pid), "-m", "not evidence", "--as", "auditor-test")
    assert result.exit_code == 0, result.output
    after = {st.text for st in statements(narrative(ctx, "demo", current(ctx, "demo")))}
    assert not own & after
    assert pid not in {p for st in statements(narrative(ctx, "demo", current(ctx, "demo"))) for p in st.proposal_ids}


def test_matrix_and_statement_of_applicability(sample):
    ctx, base = sample
    out = base / "tables"
    assert _cli(ctx, "matrix", "--out", str(out)).exit_code == 0
    assert _cli(ctx, "soa", "--out", str(out)).exit_code == 0
    from openpyxl import load_workbook

    soa = list(load_workbook(out / "statement-of-applicability.xlsx").active.iter_rows(values_only=True))
    assert len(soa) == 1 + 93 and soa[1][0] == "A.5.1" and soa[-1][0] == "A.8.34"
    assert {row[4] for row in soa[1:]} >= {"Implemented", "Not yet evidenced"}
    matrix = list(load_workbook(out / "control-matrix.xlsx").active.iter_rows(values_only=True))
    assert {row[0] for row in matrix[1:]} >= {"CC1.1", "CC6.1", "CC9.2"}
    assert any(row[5] and row[5].startswith("sha256 ") for row in matrix[1:])
    assert "| A.8.34 |" in (out / "statement-of-applicability.md").read_text(encoding="utf-8")


def test_exports_carry_every_citation_and_oscal_validates(sample):
    ctx, base = sample
    out = base / "exports"
    for fmt in ("csv", "xlsx", "json", "oscal"):
        assert _cli(ctx, "export", "--format", fmt, "--out", str(out)).exit_code == 0, fmt
    proposals = list_proposals(ctx, "demo", limit=10**6)
    total = sum(len(p.citations) for p in proposals)
    with (out / "proposals.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == total and all(r["quote"] for r in rows)
    from openpyxl import load_workbook

    assert load_workbook(out / "proposals.xlsx").active.max_row == 1 + total
    from trestle.oscal.component import ComponentDefinition

    data = json.loads((out / "component-definition.json").read_text(encoding="utf-8"))
    model = ComponentDefinition.model_validate(data["component-definition"])
    requirements = [r for ci in model.components[0].control_implementations for r in ci.implemented_requirements]
    approved = {(p.framework, p.clause_id) for p in proposals if p.status.value == "approved"}
    assert len(requirements) == len(approved) and all(r.links for r in requirements)
    assert _cli(ctx, "export", "--format", "pdf", "--out", str(out)).exit_code == 2


def test_bundle_verifies_without_ctrlmap_and_catches_an_altered_text(sample, tmp_path):
    ctx, base = sample
    assert _cli(ctx, "export", "--format", "bundle", "--out", str(base / "bundle")).exit_code == 0
    fresh = tmp_path / "auditor"
    with zipfile.ZipFile(base / "bundle" / "evidence-bundle.zip") as zf:
        zf.extractall(fresh)
    python = shutil.which("python3") or sys.executable
    ok = subprocess.run([python, "-I", "verify.py"], cwd=fresh, capture_output=True, text=True, timeout=120,
                        env={"PATH": "/usr/bin:/bin"})
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert " citations verify" in ok.stdout
    cited = json.loads((fresh / "citations.json").read_text(encoding="utf-8"))[0]
    path = fresh / "texts" / f"{cited['document_sha256']}.txt"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[:cited["start"]] + "X" + text[cited["start"] + 1:], encoding="utf-8")
    bad = subprocess.run([python, "-I", "verify.py"], cwd=fresh, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin"})
    assert bad.returncode == 1 and "citation does not verify" in bad.stdout and "differs from the manifest" in bad.stdout


def test_api_and_web_offer_the_downloads(sample):
    ctx, _ = sample
    key, _ = create_key(ctx, Role.viewer, "demo", name="auditor")
    with TestClient(create_app(ctx=ctx)) as client:
        auth = {"Authorization": f"Bearer {key}"}
        got = client.get("/api/workspaces/demo/exports/bundle", headers=auth)
        assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
        assert got.content[:2] == b"PK"
        word = client.get("/api/workspaces/demo/exports/description", headers=auth)
        assert word.status_code == 200 and word.content[:2] == b"PK"
        assert client.get("/api/workspaces/demo/exports/nope", headers=auth).status_code == 422
    from tests.test_web import browser

    with TestClient(create_app(ctx=ctx), follow_redirects=False) as client:
        page = browser(client, key).get("/w/demo/narrative").text
        assert "/api/workspaces/demo/exports/bundle" in page and "<table class=\"ntable\">" in page
        assert 'id="profile-form"' not in page  # storing a profile is for admins
        admin, _ = create_key(ctx, Role.admin, "demo", name="admin")
        assert 'id="profile-form"' in browser(client, admin).get("/w/demo/narrative").text
        assert client.get("/static/narrative.js").status_code == 200


def test_not_applicable_decisions_reach_dc8_and_the_soa(sample):
    """The review's clause-level not-applicable decisions (`ctrlmap review na mark`) become DC8 rows with their
    reason and SoA exclusions; a criterion marked not applicable is no longer listed as unsupported."""
    ctx, base = sample
    marks = [("soc2-tsc-2017", "CC6.4", "The organization operates no facilities; hosting is carved out."),
             ("iso27001-2022", "A.7.1", "No offices or data centres are in scope.")]
    for framework, clause, reason in marks:
        result = _cli(ctx, "review", "na", "mark", framework, clause, "--reason", reason, "--as", "ciso")
        assert result.exit_code == 0, result.output
    try:
        sections = narrative(ctx, "demo", current(ctx, "demo"))
        dc8 = next(s for s in sections if s.key == "DC8")
        assert dc8.columns and dc8.statements[0].cells[0] == "CC6.4 Physical access restrictions"
        assert "operates no facilities" in dc8.statements[0].cells[1] and "ciso" in dc8.statements[0].cells[2]
        assert check(ctx, "demo", sections, current(ctx, "demo")) == []
        report = json.loads(_cli(ctx, "narrate", "--check", "--json").stdout)
        assert {c["id"]: c["status"] for c in report["criteria"]}["CC6.4"] == "not applicable"
        assert _cli(ctx, "soa", "--out", str(base / "na")).exit_code == 0
        row = next(line for line in (base / "na" / "statement-of-applicability.md").read_text(encoding="utf-8")
                   .splitlines() if line.startswith("| A.7.1 |"))
        assert "| No |" in row and "No offices" in row and "Not applicable" in row
    finally:
        for framework, clause, _ in marks:
            _cli(ctx, "review", "na", "clear", framework, clause, "--as", "ciso")
