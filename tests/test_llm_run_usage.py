"""One run's LLM usage covers every call it made: the narrative drafted after the mapping spends from the
mapping's client (one budget) and its calls are counted in the run's usage, in the workflows and in
`ctrlmap demo`. A fake OpenAI-compatible server on 127.0.0.1 answers and counts the requests it received
(tests/test_llm_fakes.py): this proves the accounting, not model quality."""

from __future__ import annotations

import pytest

from rag import workflows
from rag.context import Context
from rag.models import Action
from rag.review import list_proposals
from rag.samples import sample_dir
from tests.test_llm_fakes import DUMMY_KEY, PROFILE, fake_server, honest, llm_settings, schema_name

SOC2 = "soc2-tsc-2017"


def _drafts(server) -> int:
    return sum(schema_name(b) == "dc5_draft" for b in server["requests"] if "response_format" in b)


def _mapped_and_approved(ctx: Context) -> tuple[str, workflows.MappingOutcome, object]:
    """The access control policy mapped to SOC 2 by a judge on the fake server, four proposals approved."""
    ws = ctx.workspace(create=True)
    with sample_dir() as sample:
        workflows.ingest_documents(ctx, ws, [str(sample / "policies" / "access-control-policy.md")], "tester")
    judge = workflows.make_run_judge(ctx)
    mapped = workflows.run_mapping(ctx, ws, [SOC2], "tester", judge=judge)
    for p in list_proposals(ctx, ws, framework=SOC2)[:4]:
        workflows.decide(ctx, ws, p.id, "reviewer", Action.approve)
    return ws, mapped, judge


def test_narrative_calls_count_in_the_run_that_mapped(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    with fake_server(lambda body: honest(body)) as server:
        ctx = Context(llm_settings(tmp_path, openai_base_url=server["url"]))
        ws, mapped, judge = _mapped_and_approved(ctx)
        desc = workflows.describe_system(ctx, ws, PROFILE, client=judge.client)
        ctx.close()
    usage = workflows.with_narrative(mapped.usage, desc.usage)
    assert desc.usage["calls"] == usage["narrative_calls"] == _drafts(server) > 0
    assert usage["calls"] == judge.client.usage.calls == len(server["requests"])  # pre-flight, judge, narrative
    assert usage["input_tokens"] == judge.client.usage.input_tokens


def test_the_narrative_spends_from_the_run_s_budget(tmp_path, monkeypatch):
    """A run whose budget the mapping used up drafts the narrative extractively and calls nothing more."""
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    with fake_server(lambda body: honest(body)) as server:
        ctx = Context(llm_settings(tmp_path, openai_base_url=server["url"]))
        ws, _, judge = _mapped_and_approved(ctx)
        before = len(server["requests"])
        judge.client.usage.budget = judge.client.usage.spent
        desc = workflows.describe_system(ctx, ws, PROFILE, client=judge.client)
        ctx.close()
    assert len(server["requests"]) == before and desc.usage["calls"] == 0
    dc5 = next(s for s in desc.sections if s.key == "DC5")
    assert desc.problems == [] and any(sub.statements for sub in dc5.subsections)  # the extractive text


@pytest.mark.slow
def test_demo_usage_equals_the_requests_the_server_received(tmp_path, monkeypatch):
    from rag.demo import run_demo

    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    with fake_server(lambda body: honest(body)) as server:
        ctx = Context(llm_settings(tmp_path, openai_base_url=server["url"]))
        result = run_demo(ctx, tmp_path / "out")
        ctx.close()
    assert result.usage["narrative_calls"] == _drafts(server) > 0
    assert result.usage["calls"] == result.usage["attempts"] == len(server["requests"])
