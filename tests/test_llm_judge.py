"""The LLM judge, replayed from cassettes (tests/cassettes/llm/) and driven through in-process transports.

No model is reachable here: every reply is written by hand in the OpenAI Chat Completions response format
(tests/cassettes/build.py writes the cassettes; the request bodies in them are what our code sends and are
matched exactly). These tests prove request building, parsing and error handling, never model quality.
"""

from __future__ import annotations

import json
import os
import time

import httpx2
import pytest

from rag import citations as cites
from rag.context import Context
from rag.errors import LLMNotConfigured
from rag.settings import Settings
from rag.judge import LLMJudge, make_judge, request_data, sendable
from rag.llm import LLMClient, load_prompt
from rag.models import Coverage, Method, Status
from tests.test_llm_fakes import vcr_cassette_dir, vcr_config  # noqa: F401 (fixtures)
from tests.test_llm_fakes import (ACCESS_POLICY, DUMMY_KEY, RATE_LIMITED, SERVED_MODEL, USE_POLICY, VCR_CONFIG,
                                  Transport, completion, data_block, is_hand_written, judge_item, judge_items,
                                  judgments, llm_settings)

P1 = "All workforce accounts use single sign-on with phishing-resistant multi-factor authentication."
TEXTS = {judge_item().candidates[0].passage.document_sha256: ACCESS_POLICY,
         judge_item().candidates[2].passage.document_sha256: USE_POLICY}


@pytest.fixture
def llm_env(monkeypatch, record_mode):
    """A dummy key when replaying; a maintainer re-recording passes a real one as RECORD_OPENAI_API_KEY."""
    key = os.environ.get("RECORD_OPENAI_API_KEY", "") if record_mode != "none" else DUMMY_KEY
    monkeypatch.setenv("OPENAI_API_KEY", key)


@pytest.fixture
def synthetic(record_mode):
    if record_mode != "none":
        pytest.skip("synthetic cassette (a reply no real model gives on demand): rebuild with "
                    "tests/cassettes/build.py")


def _judge(tmp_path, transport: Transport | None = None, **overrides) -> LLMJudge:
    ctx = Context(llm_settings(tmp_path, **overrides))
    client = LLMClient(ctx.settings, transport.client() if transport else None)
    return LLMJudge(ctx, client)


def _review(judge: LLMJudge, item=None):
    item = item or judge_item()
    return item, judge.review([item])[item.clause.key]


def _no_retry_wait(monkeypatch):
    """The client's backoff between retries, made instant (the retries themselves still happen)."""
    import rag.llm

    monkeypatch.setattr(rag.llm, "pause", lambda seconds: None)


def assert_llm_proposals(item, proposals):
    sent = {s.candidate.passage.id for s in sendable(item, Settings.load("llm"))}
    assert proposals, "the judge made no proposal"
    for p in proposals:
        assert p.method == Method.llm and p.status == Status.proposed
        assert p.prompt_version == load_prompt("judge").version
        assert p.model and p.usage["input_tokens"] > 0 and p.usage["output_tokens"] > 0
        assert p.citations and all(c.passage_id in sent for c in p.citations)
        assert all(cites.verify(c, TEXTS) for c in p.citations)


# --- cassettes ----------------------------------------------------------------------------------------


@pytest.mark.vcr("judge_success.yaml")
def test_success(tmp_path, llm_env, vcr):
    """Cassette written by hand in the Chat Completions format (re-recordable from a real model): the
    request matches byte for byte, the reply becomes verified, LLM-made, merely proposed mappings."""
    judge = _judge(tmp_path)
    item, proposals = _review(judge)
    assert_llm_proposals(item, proposals)
    summary = judge.usage_summary()
    assert summary["calls"] == 1 and summary["fallbacks"] == 0 and vcr.play_count == 1
    if is_hand_written(vcr):  # what the hand-written reply says (a re-recorded cassette holds a real reply)
        (p,) = proposals
        assert p.document_name == "access-control-policy.md" and p.coverage == Coverage.full
        assert p.model == SERVED_MODEL and p.usage["input_tokens"] == 812 and p.usage["output_tokens"] == 96
        assert p.citations[0].quote == P1
        assert "\n" in p.citations[1].quote  # quoted without the line break; mapped back to the exact span
        assert summary["input_tokens"] == 812 and summary["cost_usd"] == pytest.approx(0.000179, abs=1e-6)


@pytest.mark.vcr("judge_malformed_json.yaml")
def test_malformed_json_falls_back(tmp_path, llm_env, synthetic):
    """Hand-written reply cut off at the token limit (finish_reason "length"): nothing of it is used; the
    clause keeps its offline proposals and the tokens spent are still counted."""
    judge = _judge(tmp_path)
    item, proposals = _review(judge)
    assert proposals == item.offline
    s = judge.usage_summary()
    assert (s["malformed"], s["fallbacks"], s["output_tokens"]) == (1, 1, 1200)


@pytest.mark.vcr("judge_schema_violation.yaml")
def test_schema_violation_falls_back(tmp_path, llm_env, synthetic):
    """Hand-written reply that is valid JSON but not the schema (verdict "approved", an extra "status"
    field): rejected whole, offline proposals kept."""
    judge = _judge(tmp_path)
    item, proposals = _review(judge)
    assert proposals == item.offline and judge.usage_summary()["schema"] == 1


@pytest.mark.vcr("judge_invented_quotes.yaml")
def test_invented_quotes_are_dropped(tmp_path, llm_env, synthetic):
    """Hand-written reply with quotes that are not in the passages and a judgment on a passage never sent:
    invented quotes dropped and counted, the positive verdict left without a quote downgraded, the foreign
    id discarded; only the verified quote survives."""
    judge = _judge(tmp_path)
    item, proposals = _review(judge)
    (p,) = proposals
    assert p.coverage == Coverage.partial and len(p.citations) == 1
    assert p.citations[0].quote == "Managers review the access of their direct reports every quarter"
    s = judge.usage_summary()
    assert (s["dropped_quotes"], s["downgraded"], s["discarded_ids"], s["fallbacks"]) == (2, 1, 1, 0)


@pytest.mark.vcr("judge_refusal.yaml")
def test_refusal_falls_back(tmp_path, llm_env, synthetic):
    """Hand-written refusal (message.refusal set, content null): offline proposals kept, counted."""
    judge = _judge(tmp_path)
    item, proposals = _review(judge)
    assert proposals == item.offline and judge.usage_summary()["refusal"] == 1


@pytest.mark.parametrize("status", [pytest.param(429, marks=pytest.mark.vcr("judge_429_then_success.yaml")),
                                    pytest.param(503, marks=pytest.mark.vcr("judge_503_then_success.yaml"))])
def test_retry_then_success(tmp_path, llm_env, synthetic, status, vcr):
    """Hand-written 429 (rate limit) and 503 replies, each followed by a success: the openai client retries
    (llm_max_retries, honouring retry-after-ms), and the run sees one call that succeeded."""
    assert vcr.responses[0]["status"]["code"] == status
    judge = _judge(tmp_path)
    item, proposals = _review(judge)
    assert_llm_proposals(item, proposals)
    assert vcr.play_count == 2 and vcr.all_played
    assert judge.usage_summary()["calls"] == 1


@pytest.mark.vcr("judge_json_schema_refused.yaml")
def test_server_without_structured_outputs_gets_json_mode(tmp_path, llm_env, synthetic, vcr):
    """Hand-written: an OpenAI-compatible server without structured outputs (llama.cpp's server answers so)
    rejects response_format json_schema with a 400. The client switches to JSON mode with the schema written
    into the instructions, the same reply is validated as strictly, and the switch holds for the run."""
    judge = _judge(tmp_path)
    item, proposals = _review(judge)
    assert_llm_proposals(item, proposals)
    assert [r["status"]["code"] for r in vcr.responses] == [400, 200] and vcr.all_played
    first, second = (json.loads(r.body) for r in vcr.requests)
    assert first["response_format"]["type"] == "json_schema"
    assert second["response_format"] == {"type": "json_object"}
    assert "must follow this JSON Schema" in second["messages"][0]["content"]
    assert judge.client.structured == "json_mode" and judge.usage_summary()["calls"] == 1


# --- transports (what a cassette cannot do) -----------------------------------------------------------


def test_timeout_falls_back_after_retries(tmp_path, llm_env, monkeypatch):
    """A cassette cannot time out, so the transport raises httpx2.ReadTimeout, as the client's transport
    does when no answer comes within llm_timeout_s. The client retries (llm_max_retries=1: two attempts),
    then the clause keeps its offline proposals."""
    _no_retry_wait(monkeypatch)

    def hang(body, n):
        raise httpx2.ReadTimeout("no answer within the timeout")

    transport = Transport(hang)
    judge = _judge(tmp_path, transport, llm_max_retries=1)
    item, proposals = _review(judge)
    assert proposals == item.offline and len(transport.bodies) == 2
    assert judge.usage_summary()["timeout"] == 1


def test_timeout_setting_reaches_the_client(tmp_path, llm_env):
    judge = _judge(tmp_path, llm_timeout_s=7.5, llm_max_retries=3)
    assert judge.client.chat.root_client.timeout == 7.5 and judge.client.settings.llm_max_retries == 3


def test_rate_limit_exhausted_falls_back(tmp_path, llm_env, monkeypatch):
    _no_retry_wait(monkeypatch)
    transport = Transport(lambda body, n: httpx2.Response(429, json=RATE_LIMITED))
    judge = _judge(tmp_path, transport, llm_max_retries=2)
    item, proposals = _review(judge)
    assert proposals == item.offline and len(transport.bodies) == 3
    assert judge.usage_summary()["rate_limited"] == 1


@pytest.mark.parametrize("status, words", [(401, "rejected the credentials"), (404, "does not know the model")])
def test_bad_credentials_or_model_stop_the_run(tmp_path, llm_env, status, words):
    """A rejected key or an unknown model: no call can succeed, so the run stops with LLMRefused (no retry,
    no second clause asked) instead of quietly keeping the offline proposals."""
    from rag.errors import LLMRefused

    transport = Transport(lambda body, n: httpx2.Response(status, json={"error": {"message": "no"}}))
    judge = _judge(tmp_path, transport, llm_concurrency=1)
    items = [judge_item(), judge_item()]
    items[1].clause = items[1].clause.model_copy(update={"id": "CC6.2"})
    with pytest.raises(LLMRefused, match=words):
        judge.review(items)
    assert "LLMRefused" in judge.usage_summary()["stopped"] and len(transport.bodies) == 1


def _answer(body, n):
    return completion(judgments(("P1", "satisfies", [P1])))


def test_cache_makes_zero_calls_on_unchanged_inputs(tmp_path, llm_env):
    transport = Transport(_answer)
    first = _review(_judge(tmp_path, transport))[1]
    again = _judge(tmp_path, transport)
    second = _review(again)[1]
    assert len(transport.bodies) == 1
    assert [c.quote for p in second for c in p.citations] == [c.quote for p in first for c in p.citations]
    s = again.usage_summary()
    assert (s["calls"], s["cache_hits"], s["input_tokens"]) == (0, 1, 0) and second[0].usage["cached"]


def test_cache_misses_when_a_passage_changes(tmp_path, llm_env):
    transport = Transport(_answer)
    _review(_judge(tmp_path, transport))
    item = judge_item()
    item.candidates = item.candidates[:2]
    _review(_judge(tmp_path, transport), item)
    _review(_judge(tmp_path, transport, llm_model="gpt-4.1-mini"))
    assert len(transport.bodies) == 3


def test_budget_stops_cleanly_and_keeps_what_was_made(tmp_path, llm_env):
    probe = _judge(tmp_path / "probe")
    from rag.judge import ClauseJudgment, output_estimate
    from rag.llm import message_tokens

    one = message_tokens(probe.prompt, request_data(judge_item().clause, sendable(judge_item(), probe.settings)),
                         ClauseJudgment) + output_estimate(3, 1200)
    transport = Transport(_answer)
    # an attempt holds its input estimate (with a margin) plus max_tokens while in flight
    judge = _judge(tmp_path, transport, llm_concurrency=1, llm_token_budget=probe.client.reservation(one) + 50)
    items = judge_items(3)
    out = judge.review(items)
    assert out["soc2-tsc-2017:CC6.1"][0].method == Method.llm
    assert out["soc2-tsc-2017:CC6.2"] == items[1].offline and out["soc2-tsc-2017:CC6.3"] == items[2].offline
    s = judge.usage_summary()
    assert len(transport.bodies) == 1 and s["calls"] == 1 and "BudgetExceeded" in s["stopped"]
    assert s["fallbacks"] == 2


def test_concurrency_is_limited(tmp_path, llm_env):
    state = {"now": 0, "peak": 0}
    import threading

    lock = threading.Lock()

    def slow(body, n):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return _answer(body, n)

    judge = _judge(tmp_path, Transport(slow), llm_concurrency=2)
    out = judge.review(judge_items(6))
    assert len(out) == 6 and state["peak"] == 2


def test_only_visible_candidates_are_sent_and_only_they_come_back(tmp_path, llm_env):
    item = judge_item()
    item.candidates[1].passage = item.candidates[1].passage.model_copy(update={"hidden": True})
    real_id = item.candidates[1].passage.id

    def answer(body, n):
        ids = [p["id"] for p in data_block(body)["passages"]]
        assert ids == ["P1", "P2"]
        return completion(judgments(("P1", "satisfies", [P1]), ("P1", "satisfies", [P1]),
                                    (real_id, "satisfies", ["Managers review the access of their direct reports"]),
                                    ("P2", "partial", ["This policy explains how staff may use company laptops"])))

    judge = _judge(tmp_path, Transport(answer))
    proposals = _review(judge, item)[1]
    assert {p.document_name for p in proposals} == {"access-control-policy.md", "acceptable-use-policy.md"}
    assert all(c.passage_id != real_id for p in proposals for c in p.citations)
    assert judge.usage_summary()["discarded_ids"] == 2  # the duplicate P1 and the id that was never sent


def test_no_key_means_no_judge(tmp_path):
    ctx = Context(llm_settings(tmp_path))
    with pytest.raises(LLMNotConfigured):
        make_judge(ctx)
