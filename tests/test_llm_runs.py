"""LLM usage belongs to one run: two mapping jobs in one server process report independent usage, and a run
with a token budget of N never spends more than N. A fake OpenAI-compatible server on 127.0.0.1 answers
(tests/test_llm_fakes.py): this proves the accounting, not model quality."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from api.app import create_app
from rag.auth import Role
from rag.context import Context
from rag.settings import Settings
from tests.test_api_seed import seed_tenant
from tests.test_llm_fakes import DUMMY_KEY, fake_server, honest


def _job(client, t, frameworks=("nist-ai-rmf-1.0",)) -> dict:
    job = client.post("/api/workspaces/acme/jobs", json={"frameworks": list(frameworks)}, headers=t.header(Role.admin))
    assert job.status_code == 202, job.text
    for _ in range(1200):
        state = client.get(f"/api/workspaces/acme/jobs/{job.json()['id']}", headers=t.header(Role.viewer)).json()
        if state["status"] not in ("queued", "running"):
            return state
        time.sleep(0.05)
    raise AssertionError("the job did not finish")


def test_two_jobs_in_one_server_report_their_own_usage_and_keep_their_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    with fake_server(lambda body: honest(body)) as server:
        settings = Settings.load("offline", data_dir=tmp_path / "data", mode="llm", openai_base_url=server["url"],
                                 llm_token_budget=60_000, llm_concurrency=2)
        ctx = Context(settings)
        t = seed_tenant(Context(Settings.load("offline", data_dir=tmp_path / "data")), "acme")
        with TestClient(create_app(ctx=ctx)) as client:
            first = _job(client, t)
            second = _job(client, t)
        ctx.close()
    assert first["status"] == second["status"] == "done", (first, second)
    one, two = first["stats"]["llm"], second["stats"]["llm"]
    # the first run stops at its budget (every call in flight held max_tokens) and never goes past it
    assert one["stopped"] and "BudgetExceeded" in one["stopped"]
    assert 0 < one["input_tokens"] + one["output_tokens"] + one["unconfirmed_tokens"] <= 60_000
    # each run counts its own calls only: the pre-flight (12 tokens in the fake) plus its judged clauses
    # (812 input tokens each in the fake), never the other run's
    judged = [b for b in server["requests"] if "response_format" in b]
    assert (one["calls"] - 1) + (two["calls"] - 1) == len(judged)
    for usage in (one, two):
        assert usage["input_tokens"] == 12 + 812 * (usage["calls"] - 1) and usage["budget"] == 60_000
    # unchanged inputs: the clauses the first run judged come from the cache in the second
    assert two["cache_hits"] == one["calls"] - 1 and two["calls"] > 1
