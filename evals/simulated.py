"""Simulated judges: the LLM path measured with judges of known quality, since no capable model is reachable.

A simulated judge is a fake OpenAI-compatible endpoint served in process (an httpx2 mock transport under the
real `rag.llm.LLMClient`), so request building, the DATA block, JSON-schema parsing, quote checking and the
combination with offline evidence are all exercised exactly as with a real model:

- `oracle`: answers "satisfies" for a passage exactly when its document carries a gold label for the clause
  (quoting a whole sentence of the passage, so the citation verifies), "does_not" otherwise;
- `noisy:P`: the oracle with each (clause, passage) answer flipped with probability P, from a fixed seed
  (seeded per clause and passage, so the answers do not depend on thread order).

These figures describe the pipeline around a model (what reaches the judge, how verdicts become proposals and
rankings), never a model's quality. Noise here is independent per passage; a real model's errors correlate by
clause, so read the noisy rows as a guide.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass

import httpx2
from pydantic import SecretStr

from rag import placeholders
from rag.embeddings import count_tokens
from rag.errors import InvalidInput
from rag.ingest.chunk import sentence_spans
from rag.judge import LLMJudge
from rag.llm import LLMClient

SEED = 20261203
ENDPOINT = "http://simulated-judge.invalid/v1"
_DATA = re.compile(r"<<<DATA (\w+)>>>\n(.*)\n<<<END DATA \1>>>", re.S)


@dataclass(frozen=True)
class JudgeSpec:
    name: str  # "oracle" or "noisy:0.1"
    flip: float
    seed: int = SEED

    @property
    def label(self) -> str:
        return f"{self.name} (simulated)"


def parse_judge(text: str) -> JudgeSpec:
    """`oracle` or `noisy:P` (0 < P < 1), optionally `noisy:P:SEED`."""
    parts = text.strip().lower().split(":")
    if parts == ["oracle"]:
        return JudgeSpec("oracle", 0.0)
    try:
        if parts[0] == "noisy" and len(parts) in (2, 3):
            flip = float(parts[1])
            seed = int(parts[2]) if len(parts) == 3 else SEED
            if 0 < flip < 1:
                return JudgeSpec(f"noisy:{flip:g}", flip, seed)
    except ValueError:
        pass
    raise InvalidInput(f"--judge {text!r}: expected oracle or noisy:P with 0 < P < 1 (e.g. noisy:0.1)")


class SimulatedEndpoint:
    """Answers Chat Completions requests for the judge's schema from the gold labels.

    `gold` maps (framework, clause id) to the document names labeled for it (the names the DATA block shows)."""

    def __init__(self, spec: JudgeSpec, gold: dict[tuple[str, str], set[str]]) -> None:
        self.spec, self.gold = spec, gold
        self.requests = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests += 1
        body = json.loads(request.content)
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        data = json.loads(_DATA.search(user).group(2))
        req = data["requirement"]
        labeled = self.gold.get((req["framework"], req["id"]), set())
        judgments = [self._judge(req, p, p["document"] in labeled) for p in data["passages"]]
        content = json.dumps({"judgments": judgments})
        # as a provider counts them: the messages and the response schema
        prompt_tokens = (sum(count_tokens(m["content"]) for m in body["messages"])
                         + count_tokens(json.dumps(body.get("response_format", {}), separators=(",", ":"))))
        return httpx2.Response(200, json=_completion(content, body.get("model", ""), prompt_tokens,
                                                     count_tokens(content)))

    def _judge(self, req: dict, passage: dict, truth: bool) -> dict:
        if self.spec.flip:
            key = f"{self.spec.seed}|{req['framework']}|{req['id']}|{passage['document']}|{passage['text']}"
            rng = random.Random(hashlib.sha256(key.encode("utf-8")).digest())
            truth = truth != (rng.random() < self.spec.flip)
        if not truth:
            return {"passage_id": passage["id"], "verdict": "does_not", "rationale": "Simulated verdict.",
                    "quotes": []}
        return {"passage_id": passage["id"], "verdict": "satisfies", "rationale": "Simulated verdict.",
                "quotes": [quote_from(passage["text"])]}


def quote_from(text: str) -> str:
    """A quote that meets the quote policy: the longest sentence of 8-60 words without a template placeholder
    (never citable), else 8-30 leading words."""
    sentences = [text[s:e] for s, e in placeholders.clean_spans(text, sentence_spans(text, 0, len(text)))]
    fitting = [s for s in sentences if 8 <= len(s.split()) <= 60]
    if fitting:
        return max(fitting, key=lambda s: len(s.split()))
    words = text.split()
    return " ".join(words[:30]) if len(words) >= 8 else text.strip()


def _completion(content: str, model: str, prompt_tokens: int, completion_tokens: int) -> dict:
    return {"id": "chatcmpl-simulated", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def simulated_judge(ctx, spec: JudgeSpec, gold: dict[tuple[str, str], set[str]]) -> LLMJudge:
    """A fresh judge (own client, usage and budget) whose endpoint is the simulation."""
    settings = ctx.settings.model_copy(update={
        "mode": "llm", "openai_base_url": ENDPOINT, "openai_api_key": SecretStr("simulated"),
        "azure_endpoint": None, "llm_model": f"simulated-{spec.name}-{spec.seed}", "llm_price_in": 0.0,
        "llm_price_out": 0.0, "llm_token_budget": 10 ** 9})
    transport = httpx2.MockTransport(SimulatedEndpoint(spec, gold))
    return LLMJudge(ctx, LLMClient(settings, httpx2.Client(transport=transport)))
