"""The system profile: a documented schema, every problem reported with its path (exit 2, no traceback),
stored per workspace through the CLI and the API, versioned and audited."""

from __future__ import annotations

import json

import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from rag.auth import Role, create_key
from rag.profile import problems_of, starter
from rag.samples import sample_dir

BAD = """organization:
  legal_name: [not, a, name]
report:
  type: SOC 2 Type 3
  system_name: Example
  trust_services_categories: security
  period_start: 2026-13-01
subservice_organizations:
  - name: Cloud
    services: Hosting
    method: carved
systm_incidents: []
"""


def _cli(tmp_path, *args):
    return CliRunner().invoke(app, ["--data-dir", str(tmp_path / "data"), "--workspace", "acme", *args])


def test_check_reports_every_problem_with_its_path(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    result = _cli(tmp_path, "profile", "check", str(path))
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith(str(path) + ": ")]
    assert len(lines) == 6, result.output
    text = "\n".join(lines)
    for expected in ("organization.legal_name (line 2)", "report.type (line 4)",
                     "report.trust_services_categories (line 6): write the categories as a list",
                     "report.period_start (line 7): not a valid date ('2026-13-01')",
                     "subservice_organizations[0].method (line 11)", "systm_incidents (line 12): unknown key"):
        assert expected in text, text


def test_empty_file_and_bad_yaml_are_one_problem_each(tmp_path):
    for content, expected in (("", "the file is empty"), ("organization: [oops", "not valid YAML"),
                              ("- a list\n", "expected a mapping")):
        path = tmp_path / "p.yaml"
        path.write_text(content, encoding="utf-8")
        result = _cli(tmp_path, "profile", "check", str(path))
        assert result.exit_code == 2 and expected in result.output and "Traceback" not in result.output


def test_starter_and_sample_are_valid(tmp_path):
    result = _cli(tmp_path, "profile", "init", str(tmp_path / "starter.yaml"))
    assert result.exit_code == 0, result.output
    assert problems_of((tmp_path / "starter.yaml").read_text(encoding="utf-8")) == []
    assert "#" in starter() and "carve-out" in starter()  # commented
    with sample_dir() as sample:
        assert problems_of((sample / "system-profile.yaml").read_text(encoding="utf-8")) == []


def test_set_stores_versions_and_audits_them(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(starter(), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD, encoding="utf-8")
    assert _cli(tmp_path, "profile", "set", str(good)).exit_code == 0
    refused = _cli(tmp_path, "profile", "set", str(bad))
    assert refused.exit_code == 2 and "unknown key" in refused.output
    good.write_text(starter().replace("Example Corp, Inc.", "Example Two, Inc."), encoding="utf-8")
    assert "version 2" in _cli(tmp_path, "profile", "set", str(good)).output
    shown = _cli(tmp_path, "profile", "show")
    assert shown.exit_code == 0 and "Example Two, Inc." in shown.output
    log = _cli(tmp_path, "audit", "log")
    assert log.output.count("profile.update") == 2
    assert _cli(tmp_path, "audit", "verify").exit_code == 0


def test_api_stores_yaml_and_lists_problems(ctx):
    ctx.workspace("acme", create=True)
    admin, _ = create_key(ctx, Role.admin, "acme", name="admin")
    viewer, _ = create_key(ctx, Role.viewer, "acme", name="viewer")
    with TestClient(create_app(ctx=ctx)) as client:
        url = "/api/workspaces/acme/narrative/profile"
        refused = client.put(url, json={"yaml": BAD}, headers={"Authorization": f"Bearer {admin}"})
        assert refused.status_code == 422 and len(refused.json()["problems"]) == 6
        stored = client.put(url, json={"yaml": starter()}, headers={"Authorization": f"Bearer {admin}"})
        assert stored.status_code == 200 and stored.json()["title"].startswith("Example Corp, Inc.")
        obj = json.loads(json.dumps(yaml.safe_load(starter().replace("Example Corp", "Acme")), default=str))
        as_object = client.put(url, json={"profile": obj},
                               headers={"Authorization": f"Bearer {admin}"})
        assert as_object.status_code == 200
        got = client.get(url, headers={"Authorization": f"Bearer {viewer}"}).json()
        assert [v["version"] for v in got["versions"]] == [1, 2] and "Acme" in got["yaml"]
        check = client.get("/api/workspaces/acme/narrative/check", headers={"Authorization": f"Bearer {viewer}"})
        elements = {e["key"]: e["status"] for e in check.json()["elements"]}
        assert elements["DC1"] == "present" and elements["DC5"] == "needs input"  # nothing approved yet
