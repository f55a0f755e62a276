"""`ctrlmap eval --mode llm` against a fake OpenAI-compatible server on 127.0.0.1: each framework's row reports
that run's calls only (they used to accumulate across frameworks), and a refused key stops the eval before
any work with exit 8. Hand-written replies: the plumbing, not model quality."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from api.cli import app
from tests.test_eval import make_dataset
from tests.test_llm_fakes import DUMMY_KEY, fake_server, honest


def test_llm_eval_reports_each_run_s_own_usage(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    dataset = make_dataset(tmp_path / "tiny")
    with fake_server(lambda body: honest(body)) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server["url"])
        result = CliRunner().invoke(app, ["eval", "-d", str(dataset), "--mode", "llm", "--no-baselines",
                                          "--json", str(tmp_path / "eval.json")])
        judged = sum("response_format" in b for b in server["requests"])
    assert result.exit_code == 0, result.output
    runs = json.loads((tmp_path / "eval.json").read_text())["runs"]
    assert {r["framework"] for r in runs} == {"soc2-tsc-2017", "iso27001-2022"}
    for r in runs:
        assert r["calls"] == r["clauses_judged"] > 0 and r["citation_failures"] == 0
    assert sum(r["calls"] for r in runs) == judged  # every call counted once, in the run that made it


def test_llm_eval_with_a_refused_key_exits_8_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    dataset = make_dataset(tmp_path / "tiny")
    with fake_server(lambda body: (401, {"error": {"message": "bad key"}})) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server["url"])
        result = CliRunner().invoke(app, ["eval", "-d", str(dataset), "--mode", "llm", "--no-baselines"])
    assert result.exit_code == 8 and "rejected the credentials" in " ".join(result.output.split())
    assert len(server["requests"]) == 1 and "ingesting" not in result.output
