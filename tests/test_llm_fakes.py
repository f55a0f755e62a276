"""Fakes shared by the LLM tests (and tests/cassettes/build.py), plus tests of the fakes themselves.

No model is reachable from the machines these tests run on. Replies here are written by hand in the OpenAI
Chat Completions response format (https://platform.openai.com/docs/api-reference/chat/object): they prove
request building, parsing and error handling, never model quality.
"""

from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import httpx2
import pytest

from rag import citations as cites
from rag.mapping import Candidate, JudgeItem
from rag.models import (Clause, Coverage, NarrativeSection, NarrativeStatement, Passage, Proposal,
                        sha256_hex)
from rag.settings import Settings

MODEL = "gpt-4o-mini"
SERVED_MODEL = "gpt-4o-mini-2024-07-18"
DUMMY_KEY = "sk-test-not-a-real-key"

ACCESS_POLICY = """# Access Control Policy

## 3. Authentication

All workforce accounts use single sign-on with phishing-resistant multi-factor authentication. Shared
accounts are prohibited unless the Security team grants a documented exception.

## 4. Access reviews

Managers review the access of their direct reports every quarter and remove access that is no longer
needed within five business days.
"""

USE_POLICY = """# Acceptable Use Policy

## 1. Purpose

This policy explains how staff may use company laptops, accounts and software in their daily work.
"""

CLAUSE = Clause(framework="soc2-tsc-2017", id="CC6.1", title="Logical access security", kind="criterion",
                description="Evidence shows that people reach systems only through unique, authenticated "
                            "identities, with strong authentication for privileged and remote access.",
                keywords=["authentication", "access"], assessable=True)


def sections(text: str, document_id: int) -> list[Passage]:
    """One passage per '## ' section (heading line included), with exact offsets into the text."""
    sha = sha256_hex(text)
    title = text.splitlines()[0].lstrip("# ").strip()
    starts = [m.start() for m in re.finditer(r"^## ", text, re.M)] + [len(text)]
    out = []
    for seq, (s, e) in enumerate(zip(starts, starts[1:])):
        e = len(text[:e].rstrip())
        heading = text[s:text.index("\n", s)].lstrip("# ").strip()
        out.append(Passage(id=Passage.make_id(sha, s, e), document_id=document_id, document_sha256=sha, seq=seq,
                           start=s, end=e, text=text[s:e], heading_path=[title, heading]))
    return out


def judge_item() -> JudgeItem:
    """CC6.1 with three candidates (P1, P2 from the access policy; P3 from the acceptable use policy) and
    the offline proposal the judge falls back to."""
    a, b = sections(ACCESS_POLICY, 1), sections(USE_POLICY, 2)
    cands = [Candidate(a[0], "access-control-policy.md", ACCESS_POLICY, 4.2, 0.71),
             Candidate(a[1], "access-control-policy.md", ACCESS_POLICY, 3.1, 0.71),
             Candidate(b[0], "acceptable-use-policy.md", USE_POLICY, 1.2, 0.22)]
    start = ACCESS_POLICY.index("All workforce")
    offline = Proposal(framework=CLAUSE.framework, clause_id=CLAUSE.id, document_id=1,
                       document_name="access-control-policy.md", document_sha256=a[0].document_sha256,
                       citations=[cites.cite(a[0], ACCESS_POLICY, start, ACCESS_POLICY.index(".", start) + 1)],
                       confidence=0.71, coverage=Coverage.partial, rationale="offline")
    return JudgeItem(CLAUSE, cands, [offline])


def judge_items(n: int) -> list[JudgeItem]:
    """`judge_item()` for n clauses (CC6.1, CC6.2, ...)."""
    items = []
    for k in range(n):
        item = judge_item()
        item.clause = item.clause.model_copy(update={"id": f"CC6.{k + 1}"})
        items.append(item)
    return items


def dc5_sections() -> tuple[list[NarrativeSection], dict[str, str]]:
    """An extractive narrative whose DC5 holds two approved statements (proposals 11 and 12), and the
    version texts they cite."""
    a = sections(ACCESS_POLICY, 1)
    made = []
    for pid, criterion, passage, phrase in ((11, "CC6.1", a[0], "All workforce"), (12, "CC6.2", a[1], "Managers")):
        start = ACCESS_POLICY.index(phrase)
        c = cites.cite(passage, ACCESS_POLICY, start, ACCESS_POLICY.index(".", start) + 1, "access-control-policy.md")
        made.append(NarrativeStatement(text=" ".join(c.quote.split()), citations=[c], proposal_ids=[pid],
                                       criterion=criterion))
    cc6 = NarrativeSection(key="CC6", title="CC6 Logical and Physical Access Controls", statements=made)
    profile = NarrativeSection(key="DC1", title="Types of services provided", statements=[
        NarrativeStatement(text="Example Corp runs a support platform.", profile_keys=["company_overview"])])
    dc5 = NarrativeSection(key="DC5", title="Applicable trust services criteria", subsections=[cc6])
    return [profile, dc5], {a[0].document_sha256: ACCESS_POLICY}


PROFILE = {"organization": {"legal_name": "Example Corp", "short_name": "Example"},
           "report": {"system_name": "Example Support Platform"}}


def llm_settings(tmp_path, **overrides) -> Settings:
    """The settings every cassette was built with (the request body depends on them)."""
    base = dict(data_dir=tmp_path / "data", llm_model=MODEL, llm_max_output_tokens=1200, judge_candidates=6,
                llm_max_retries=2, llm_timeout_s=5.0, llm_concurrency=2)
    return Settings.load("llm", **{**base, **overrides})


# --- replies in the Chat Completions format -----------------------------------------------------------


def completion(content: str | None = None, *, refusal: str | None = None, finish_reason: str = "stop",
               prompt_tokens: int = 812, completion_tokens: int = 96) -> dict:
    return {"id": "chatcmpl-ctrlmap-test", "object": "chat.completion", "created": 1767225600,
            "model": SERVED_MODEL, "system_fingerprint": "fp_test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": refusal,
                                                 "annotations": []},
                         "logprobs": None, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def judgments(*rows: tuple[str, str, list[str]], rationale: str = "Covers authentication of accounts.") -> str:
    return json.dumps({"judgments": [{"passage_id": pid, "verdict": v, "rationale": rationale, "quotes": q}
                                     for pid, v, q in rows]})


RATE_LIMITED = {"error": {"message": "Rate limit reached for gpt-4o-mini (test).", "type": "requests",
                          "param": None, "code": "rate_limit_exceeded"}}
JSON_SCHEMA_UNSUPPORTED = {"error": {"message": "response_format.type: Input should be 'text' or 'json_object' "
                                                "(test)", "type": "invalid_request_error",
                                     "param": "response_format", "code": None}}
SERVER_ERROR = {"error": {"message": "The server had an error while processing your request (test).",
                          "type": "server_error", "param": None, "code": None}}


def data_block(body: dict) -> dict:
    """The JSON inside the DATA markers of a request's user message."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    match = re.search(r"<<<DATA (\w+)>>>\n(.*)\n<<<END DATA \1>>>", user, re.S)
    return json.loads(match.group(2))


def schema_name(body: dict) -> str:
    """The response schema a request asks for ("" for the plain pre-flight request)."""
    return body.get("response_format", {}).get("json_schema", {}).get("name", "")


def first_sentence(text: str) -> str:
    body = text.split("\n", 1)[-1].strip()
    return re.split(r"(?<=\.)\s", body)[0]


def honest(body: dict) -> dict:
    """A well-behaved model: 'partial' on every passage, quoting its first sentence; a DC5 draft that
    repeats each excerpt with its marker."""
    if "response_format" not in body:  # the pre-flight check: a plain one-token request
        return completion("OK", prompt_tokens=12, completion_tokens=1)
    data = data_block(body)
    if schema_name(body) == "clause_judgment":
        return completion(judgments(*[(p["id"], "partial", [first_sentence(p["text"])]) for p in data["passages"]]))
    sentences = [{"text": f"{e['quote']} [{e['ref']}]", "quotes": [{"ref": e["ref"], "quote": e["quote"]}]}
                 for e in data["evidence"]]
    return completion(json.dumps({"sentences": sentences}))


# --- transports ---------------------------------------------------------------------------------------


Handler = Callable[[dict, int], "httpx2.Response | dict"]


class Transport:
    """An in-process transport for the openai client: `handler(body, n)` answers the n-th request (a dict
    is a 200 JSON reply); every request body is kept."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.bodies: list[dict] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        with self._lock:
            body = json.loads(request.content)
            self.bodies.append(body)
            n = len(self.bodies)
        out = self.handler(body, n)
        return out if isinstance(out, httpx2.Response) else httpx2.Response(200, json=out)

    def client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self))


@contextmanager
def fake_server(handler: Callable[[dict], "dict | tuple[int, dict]"]) -> Iterator[dict]:
    """A local OpenAI-compatible server on 127.0.0.1 answering POST /v1/chat/completions with
    `handler(body)` (a dict: 200 with that JSON; a tuple: (status, JSON)). Yields {"url": base URL,
    "requests": bodies received}."""
    state: dict = {"requests": []}

    class _Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["requests"].append(body)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self.send_error(404)
                return
            out = handler(body)
            status, out = out if isinstance(out, tuple) else (200, out)
            data = json.dumps(out).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


# --- the fakes' own tests -----------------------------------------------------------------------------


def test_sample_passages_have_exact_offsets():
    item = judge_item()
    for c in item.candidates:
        assert c.version_text[c.passage.start:c.passage.end] == c.passage.text
    assert all(cites.verify(c, {c.document_sha256: ACCESS_POLICY}) for c in item.offline[0].citations)


def test_fake_server_answers_like_chat_completions():
    with fake_server(lambda body: completion("{}")) as server:
        reply = httpx2.post(server["url"] + "/chat/completions", json={"model": MODEL, "messages": []})
    assert reply.json()["choices"][0]["message"]["content"] == "{}"
    assert server["requests"] == [{"model": MODEL, "messages": []}]


# --- cassettes ----------------------------------------------------------------------------------------

SCRUBBED_REQUEST_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project", "cookie",
                            "user-agent")
SCRUBBED_RESPONSE_HEADERS = ("set-cookie", "openai-organization", "openai-project")


def _scrub_request(request):
    for name in list(request.headers):
        if name.lower() in SCRUBBED_REQUEST_HEADERS or name.lower().startswith("x-stainless"):
            del request.headers[name]
    return request


def _scrub_response(response):
    response["headers"] = {k: v for k, v in response["headers"].items()
                           if k.lower() not in SCRUBBED_RESPONSE_HEADERS}
    return response


def is_hand_written(cassette) -> bool:
    """True for the cassettes tests/cassettes/build.py writes; False once re-recorded from a real model."""
    return all("chatcmpl-ctrlmap-test" in str(r["body"]["string"])
               for r in cassette.responses if r["status"]["code"] == 200)


VCR_CONFIG = {
    "filter_headers": list(SCRUBBED_REQUEST_HEADERS),
    "before_record_request": _scrub_request,
    "before_record_response": _scrub_response,
    "match_on": ["method", "scheme", "host", "port", "path", "query", "body"],
    "decode_compressed_response": True,
}


@pytest.fixture
def vcr_config():
    """pytest-recording: scrubbed headers, request bodies matched."""
    return VCR_CONFIG


@pytest.fixture
def vcr_cassette_dir():
    return str(Path(__file__).parent / "cassettes" / "llm")
