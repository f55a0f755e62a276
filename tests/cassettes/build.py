"""Writes the synthetic cassettes in tests/cassettes/llm/.

No model is reachable from the machines ctrlmap is developed on, so these cassettes are not recordings of a
real model: each reply below is written by hand in the OpenAI Chat Completions response format, served by an
in-process transport, and captured by vcrpy together with the exact request our code sent (authorization and
other identifying headers scrubbed). Replaying them proves request building, parsing and error handling.

Run it after a deliberate change to a prompt, the request schema or the sample item (the cassette tests fail
on any request-body difference until you do):

    OPENAI_API_KEY=sk-dummy python tests/cassettes/build.py

To record the success cassette from a real model instead, see prompts/README.md.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import httpx2
import vcr

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

import tests.test_llm_fakes as fakes  # noqa: E402

from rag.context import Context  # noqa: E402
from rag.judge import LLMJudge  # noqa: E402
from rag.llm import LLMClient  # noqa: E402
from rag.narrate_llm import LLMNarrator  # noqa: E402

OUT = HERE / "llm"
P1 = "All workforce accounts use single sign-on with phishing-resistant multi-factor authentication."
P2_REFLOWED = ("Managers review the access of their direct reports every quarter and remove access that is no "
               "longer needed within five business days.")


def success(body, n):
    return fakes.completion(fakes.judgments(
        ("P1", "satisfies", [P1]),
        ("P2", "partial", [P2_REFLOWED]),  # the text has a line break here: matched after normalization
        ("P3", "does_not", [])))


def malformed(body, n):  # cut off mid-answer at the output-token limit
    return fakes.completion('{"judgments": [{"passage_id": "P1", "verdict": "satisf', finish_reason="length",
                            completion_tokens=1200)


def schema_violation(body, n):  # valid JSON, but not the schema: an unknown verdict and an extra field
    return fakes.completion('{"judgments": [{"passage_id": "P1", "verdict": "approved", "status": "approved", '
                            '"rationale": "ok", "quotes": []}]}')


def invented_quotes(body, n):
    return fakes.completion(fakes.judgments(
        ("P1", "satisfies", ["All access is approved by the CISO and reviewed every single day."]),
        ("P2", "partial", ["Managers review the access of their direct reports every quarter",
                           "Access reviews are automated by the identity provider."]),
        ("P9", "satisfies", ["A passage that was never sent to the model at all."])))


def refusal(body, n):
    return fakes.completion(None, refusal="I'm sorry, I can't help with that request.")


def rate_limited_then_success(body, n):
    if n == 1:
        return httpx2.Response(429, json=fakes.RATE_LIMITED, headers={"retry-after-ms": "20"})
    return success(body, n)


def server_error_then_success(body, n):
    if n == 1:
        return httpx2.Response(503, json=fakes.SERVER_ERROR, headers={"retry-after-ms": "20"})
    return success(body, n)


def json_schema_refused_then_json_mode(body, n):
    """A server without structured outputs (llama.cpp's, for one) rejects response_format json_schema; the
    client switches to JSON mode, with the schema in the instructions, and the same reply parses."""
    if body["response_format"]["type"] == "json_schema":
        return httpx2.Response(400, json=fakes.JSON_SCHEMA_UNSUPPORTED)
    return success(body, n)


JUDGE_CASES = {"judge_success": success, "judge_malformed_json": malformed,
               "judge_schema_violation": schema_violation, "judge_invented_quotes": invented_quotes,
               "judge_refusal": refusal, "judge_429_then_success": rate_limited_then_success,
               "judge_503_then_success": server_error_then_success,
               "judge_json_schema_refused": json_schema_refused_then_json_mode}


def narrative_success(body, n):
    return fakes.honest(body)


def _recorder(name: str):
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.yaml"
    path.unlink(missing_ok=True)
    return vcr.VCR(record_mode="all", **fakes.VCR_CONFIG).use_cassette(str(path))


def main() -> None:
    os.environ["OPENAI_API_KEY"] = fakes.DUMMY_KEY
    for name, handler in JUDGE_CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            ctx = Context(fakes.llm_settings(Path(tmp)))
            client = LLMClient(ctx.settings, fakes.Transport(handler).client())
            with _recorder(name):
                LLMJudge(ctx, client).review([fakes.judge_item()])
            ctx.close()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(fakes.llm_settings(Path(tmp)))
        client = LLMClient(ctx.settings, fakes.Transport(narrative_success).client())
        sections, texts = fakes.dc5_sections()
        with _recorder("narrative_success"):
            LLMNarrator(ctx, client).redraft(fakes.PROFILE, sections, texts)
        ctx.close()
    print("\n".join(sorted(p.name for p in OUT.glob("*.yaml"))))


if __name__ == "__main__":
    main()
