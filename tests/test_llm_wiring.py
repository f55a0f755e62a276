"""With a key or base URL set, `ctrlmap demo --mode llm` takes the LLM path; with none, nothing changes.

No model is reachable here: a tiny OpenAI-compatible server on 127.0.0.1 answers with replies written by
hand in the Chat Completions format (tests/test_llm_fakes.py). This proves the wiring, not model quality.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rag.context import Context
from rag.models import Action
from rag.review import decide, list_proposals
from rag.settings import Settings
from tests.test_llm_fakes import DUMMY_KEY, fake_server, honest, schema_name


def _cli(*args: str):
    from api.cli import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result


def _count(server, schema: str) -> int:
    return sum(schema_name(b) == schema for b in server["requests"])


def test_without_a_key_nothing_changes(monkeypatch):
    from rag.workflows import make_run_judge as _judge

    settings = Settings.load()
    assert not settings.llm_configured and not settings.use_llm
    assert _judge(Context(settings)) is None
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    assert Settings.load().use_llm and not Settings.load("offline").use_llm


@pytest.mark.slow
def test_demo_llm_mode_uses_the_configured_endpoint(tmp_path, monkeypatch):
    data, out = tmp_path / "data", tmp_path / "out"
    with fake_server(lambda body: honest(body)) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server["url"])  # a local server: no key needed
        first = _cli("--data-dir", str(data), "demo", "--out", str(out), "--mode", "llm")
        assert first.exit_code == 0, first.output
        judged = _count(server, "clause_judgment")
        assert judged > 100
        rows = json.loads((out / "proposals.json").read_text())
        assert any(r["method"] == "llm" and r["prompt_version"].startswith("judge@") for r in rows)
        assert all(r["status"] != "approved" or r["method"] != "llm" or r["id"] for r in rows)

        # a person approves some model-made SOC 2 mappings; the second run redrafts DC5 from them and
        # re-judges nothing (unchanged inputs: every judgment comes from the cache)
        ctx = Context(Settings.load(data_dir=data, mode="llm", openai_base_url=server["url"]))
        ws = ctx.workspace("demo", create=True)
        made = [p for p in list_proposals(ctx, ws, framework="soc2-tsc-2017", limit=10**6) if p.method.value == "llm"]
        for p in made[:5]:
            decide(ctx, ws, p.id, "reviewer", Action.approve)
        ctx.close()
        second = _cli("--data-dir", str(data), "demo", "--out", str(out), "--mode", "llm")
        assert second.exit_code == 0, second.output
        assert _count(server, "clause_judgment") == judged
        assert _count(server, "dc5_draft") > 0
    description = (out / "system-description.md").read_text()
    assert "approved mapping #" in description


@pytest.mark.slow
def test_dry_run_prints_calls_tokens_and_cost(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    data = tmp_path / "data"
    from rag.samples import sample_dir

    with sample_dir() as sample:
        assert _cli("--data-dir", str(data), "ingest", str(sample / "policies" / "access-control-policy.md"),
                    str(sample / "policies" / "incident-response-plan.md")).exit_code == 0
    result = _cli("--data-dir", str(data), "--preset", "llm", "map", "--dry-run", "-f", "soc2-tsc-2017", "--json")
    report = json.loads(result.output)
    assert report["calls"] == 61 and report["cached"] == 0 and report["model"] == "gpt-4o-mini"
    assert 0 < report["in_per_call"] <= 2500
    assert report["tokens_in"] == pytest.approx(61 * report["in_per_call"], rel=0.01)
    assert report["usd"] > 0
    text = _cli("--data-dir", str(data), "--preset", "llm", "map", "--dry-run", "-f", "soc2-tsc-2017").output
    assert "no calls made" in text and "calls" in text
