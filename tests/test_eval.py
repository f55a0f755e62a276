"""`ctrlmap eval` reads any dataset in the FORMAT.md layout and writes the JSON the issue specifies."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from api.cli import app

RUN_KEYS = {"dataset", "framework", "mode", "method", "clauses", "documents", "map", "recall_at", "precision",
            "recall", "f1", "kappa", "citation_failures", "seconds", "peak_rss_mb"}

DOCS = {
    "access": "# Access Control\n\nUsers get least-privilege access approved by their manager, use multi-factor "
              "authentication, and their access is reviewed every quarter and removed when they leave.\n",
    "backup": "# Backups\n\nProduction databases are backed up daily, backups are encrypted, and a restore is "
              "tested every quarter to prove recovery works.\n",
    "vendors": "# Vendor Management\n\nSuppliers are risk-rated before onboarding, their security reports are "
               "reviewed every year, and contracts include security and breach-notification terms.\n",
}
LABELS = [("access", "CC6.1"), ("access", "CC6.2"), ("backup", "A1.2"), ("vendors", "CC9.2"),
          ("backup", "A.8.13"), ("vendors", "A.5.19"), ("access", "HIPAA-1")]


def make_dataset(root):
    (root / "docs").mkdir(parents=True)
    for doc_id, text in DOCS.items():
        (root / "docs" / f"{doc_id}.md").write_text(text)
    with (root / "labels.jsonl").open("w") as fh:
        for doc_id, control in LABELS:
            framework = ("iso27001-2022" if control.startswith("A.8") or control.startswith("A.5")
                         else "hipaa" if control.startswith("HIPAA") else "soc2-tsc-2017")
            fh.write(json.dumps({"doc_id": doc_id, "framework": framework, "control_id": control}) + "\n")
    (root / "docs_meta.jsonl").write_text("\n".join(json.dumps({"doc_id": d, "title": d.title()}) for d in DOCS))
    return root


def test_eval_on_a_dataset_in_format(tmp_path):
    dataset = make_dataset(tmp_path / "tiny")
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(app, ["eval", "--dataset", str(dataset), "--json", str(out),
                                      "--report", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    runs = json.loads(out.read_text())["runs"]
    assert {(r["framework"], r["method"]) for r in runs} == {
        (f, m) for f in ("soc2-tsc-2017", "iso27001-2022") for m in ("ctrlmap", "bm25", "dense", "hybrid")}
    for r in runs:
        assert RUN_KEYS <= set(r) and set(r["recall_at"]) == {"1", "3", "5", "10"}
        assert r["citation_failures"] == 0 and r["documents"] == 3
    ours = {r["framework"]: r for r in runs if r["method"] == "ctrlmap"}
    assert ours["soc2-tsc-2017"]["map"] >= 0.75  # three distinct topics: the right document comes first
    assert (tmp_path / "report" / "report.md").exists() and (tmp_path / "report" / "eval.png").stat().st_size > 1000


def test_eval_catalog_option_loads_another_catalog(tmp_path):
    dataset = make_dataset(tmp_path / "tiny")
    overlay = tmp_path / "official.csv"
    overlay.write_text("id,title,text\nCC6.1,x,Logical access to systems is restricted to authorized users.\n")
    versions = []
    for extra in ([], ["--catalog", str(overlay)]):
        out = tmp_path / f"eval{len(extra)}.json"
        result = CliRunner().invoke(app, ["eval", "-d", str(dataset), "-f", "soc2-tsc-2017", "--no-baselines",
                                          "--json", str(out), *extra])
        assert result.exit_code == 0, result.output
        (run,) = json.loads(out.read_text())["runs"]
        versions.append(run["catalog_version"])
    assert versions[0] != versions[1]


def test_eval_rejects_a_folder_without_labels(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["eval", "--dataset", str(tmp_path / "empty")])
    assert result.exit_code != 0 and "labels.jsonl" in result.output


def test_eval_names_broken_label_lines_and_unscorable_datasets(tmp_path):
    broken = make_dataset(tmp_path / "broken")
    (broken / "labels.jsonl").write_text('{"doc_id": "access", "framework": "soc2-tsc-2017"}\nnot json\n')
    result = CliRunner().invoke(app, ["eval", "-d", str(broken)])
    assert result.exit_code == 2 and "broken/labels.jsonl line 1 lacks control_id" in result.output
    (broken / "labels.jsonl").write_text('{"doc_id": "access", "framework": "soc2-tsc-2017", "control_id": "CC6.1"}\n'
                                         '{"doc_id": "access", "framework"\n')
    result = CliRunner().invoke(app, ["eval", "-d", str(broken)])
    assert result.exit_code == 2 and "line 2 is not valid JSON" in result.output
    other = make_dataset(tmp_path / "hipaa_only")
    (other / "labels.jsonl").write_text('{"doc_id": "access", "framework": "hipaa", "control_id": "164.308"}\n')
    result = CliRunner().invoke(app, ["eval", "-d", str(other)])
    assert result.exit_code == 2 and "nothing to score" in result.output and "hipaa" in result.output
    good = make_dataset(tmp_path / "good")
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(app, ["eval", "-d", str(other), "-d", str(good), "--no-baselines", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and {r["dataset"] for r in json.loads(out.read_text())["runs"]} == {"good"}


def test_eval_on_real_dataset_beats_hybrid(shared_dir, tmp_path):
    from evals.run import evaluate

    runs = evaluate(shared_dir / "evals" / "datasets" / "strongdm_comply", methods=["ctrlmap", "hybrid"],
                    log=lambda _line: None)
    by = {r.method: r for r in runs}
    assert by["ctrlmap"].citation_failures == 0
    assert by["ctrlmap"].map > by["hybrid"].map


def test_copycheck_prints_nothing(shared_dir):
    from tests.conftest import ROOT

    out = subprocess.run([sys.executable, str(shared_dir / "tools" / "copycheck.py"), str(ROOT)],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "", out.stdout
