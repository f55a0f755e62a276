"""Each evaluation dataset treated as a new organization with a minimal profile: ingest its documents, map,
approve some proposals through the CLI, and the description's checks hold (nine elements present, every
statement traces and verifies, no rendering artefacts, 93 SoA rows, a bundle that verifies itself)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest
from typer.testing import CliRunner

from api.cli import app

DATASETS = ["comp_ai", "open_access_policies", "probo_measures", "strongdm_comply"]
PROFILE = """organization: {{legal_name: "{name} Inc."}}
report: {{type: SOC 2 Type 2, system_name: {name} platform, period_start: 2026-01-01, period_end: 2026-06-30}}
company_overview: {name} Inc. provides a hosted software platform to business customers.
services_provided: [{{name: {name} platform, description: A hosted software service for business customers.}}]
principal_service_commitments:
  - {{id: security, commitment: Customer data is protected against unauthorized access., criteria: [CC6.1, CC6.2]}}
system_requirements: [Access to production is reviewed quarterly.]
infrastructure: {{hosting: The platform runs on a public cloud provider.}}
software: [{{name: Application, description: The customer-facing web application.}}]
people: {{teams: [{{name: Engineering, responsibilities: Builds and operates the platform.}}]}}
data: {{types: [{{name: Customer data, description: Records customers store in the platform.}}]}}
processes_and_procedures: [{{area: Change management, summary: Changes are reviewed before release.}}]
system_boundaries: {{in_scope: [The production platform], out_of_scope: [Corporate laptops]}}
subservice_organizations:
  - {{name: Cloud provider, services: Hosting, method: carve-out,
     complementary_subservice_organization_controls: [{{control: Physical security of data centres., criteria: [CC6.4]}}]}}
complementary_user_entity_controls: [{{control: Customers manage their own users., criteria: [CC6.2]}}]
system_incidents: []
significant_changes_during_period: []
"""


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("dataset", DATASETS)
def test_dataset_as_a_new_organization(dataset, shared_dir, tmp_path):
    base = ["--data-dir", str(tmp_path / "data"), "--workspace", dataset.replace("_", "-")]

    def cli(*args):
        result = CliRunner().invoke(app, [*base, *args])
        assert result.exit_code in (0, 1), result.output
        return result

    assert cli("ingest", str(shared_dir / "evals" / "datasets" / dataset / "docs")).exit_code == 0
    cli("map", "-f", "soc2-tsc-2017", "-f", "iso27001-2022")
    proposed = json.loads(cli("review", "list", "--framework", "soc2-tsc-2017", "--limit", "500", "--json").stdout)
    for p in sorted(proposed, key=lambda p: -p["confidence"])[:20]:
        assert cli("review", "approve", str(p["id"]), "--as", "dataset-reviewer").exit_code == 0
    bare = cli("narrate", "--out", str(tmp_path / "bare"))  # a new customer's first draft: no profile yet
    assert bare.exit_code == 0 and "need input (DC1, DC2, DC3" in " ".join(bare.stdout.split()), bare.stdout
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE.format(name=dataset.replace("_", " ").title().replace(" ", "")), encoding="utf-8")
    assert cli("profile", "set", str(profile)).exit_code == 0
    report = json.loads(cli("narrate", "--check", "--json").stdout)
    assert all(e["status"] == "present" for e in report["elements"]), report["elements"]
    assert report["problems"] == []
    out = tmp_path / "out"
    drafted = cli("narrate", "--out", str(out))
    assert drafted.exit_code == 0 and "need input" not in drafted.stdout
    md = (out / "system-description.md").read_text(encoding="utf-8")
    body = md.split("## Sources")[0]
    assert "|" not in "".join(line for line in body.splitlines() if not line.startswith("|"))
    assert cli("soa", "--out", str(out)).exit_code == 0
    assert (out / "statement-of-applicability.md").read_text(encoding="utf-8").count("\n| A.") == 93
    assert cli("export", "--format", "bundle", "--out", str(out)).exit_code == 0
    with zipfile.ZipFile(out / "evidence-bundle.zip") as zf:
        zf.extractall(tmp_path / "bundle")
    verified = subprocess.run([sys.executable, "-I", "verify.py"], cwd=tmp_path / "bundle", capture_output=True,
                              text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout
