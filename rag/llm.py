"""The language-model provider layer: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, ...) or Azure
OpenAI through langchain-openai, configured from settings.

What this layer guarantees to its callers (the judge and the narrative writer):
- prompts are files in the `prompts` package, versioned by content hash;
- document text reaches the model only inside a delimited DATA block of the user message (JSON inside
  markers whose tag is a hash of the data, so the data cannot forge the closing marker);
- structured output in JSON-schema mode, and a reply is used only when it parses strictly as JSON and
  validates against the pydantic schema; refusals, malformed JSON and schema violations are reported as
  failures, never guessed at;
- timeouts, and retries with exponential backoff on 429, 5xx, timeouts and connection errors (honouring
  `Retry-After`), a circuit breaker that stops calling an endpoint that keeps failing (`LLMUnavailable`), a
  concurrency limit, a per-run token budget that is a hard ceiling (`BudgetExceeded`; see rag.llm_budget),
  token and cost accounting, and a cache so unchanged inputs make no second call;
- a rejected key or an unknown model raises `LLMRefused` (no call can succeed, so the run stops), and
  `LLMClient.preflight` finds either with one cheap call before a run starts.
"""

from __future__ import annotations

import re
import hashlib
import json
import logging
import sqlite3
import random
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from rag.errors import LLMError, LLMNotConfigured, LLMRefused, LLMUnavailable
from rag.instructions import is_instruction_like
from rag.llm_budget import Breaker, Usage
from rag.settings import Settings

LOG = logging.getLogger("ctrlmap.llm")

# USD per 1M tokens (input, output), public list prices; matched by the longest model-name prefix.
# Override with CTRLMAP_LLM_PRICE_IN / CTRLMAP_LLM_PRICE_OUT (a local model: 0).
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5": (1.25, 10.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
}
# Models that accept no temperature (reasoning models).
_NO_TEMPERATURE = ("o1", "o3", "o4", "gpt-5")
# Tokens the chat format adds per message, and once per reply (OpenAI's published counting recipe).
MESSAGE_OVERHEAD, REPLY_OVERHEAD = 4, 3
INPUT_MARGIN = 1.15  # our offline token count vs the provider's tokenizer


# --- prompts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """A system prompt (instructions only) and a user template that frames one DATA block."""

    name: str
    system: str
    user: str
    version: str  # sha256 of both files, 12 hex digits

    def render(self, data: dict) -> str:
        """The user message: the template with the JSON data between tagged markers."""
        body = json.dumps(data, ensure_ascii=False, indent=1)
        tag = hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]
        message = self.user.replace("{begin}", f"<<<DATA {tag}>>>").replace("{end}", f"<<<END DATA {tag}>>>")
        return message.replace("{data}", body)


@lru_cache(maxsize=8)
def load_prompt(name: str) -> Prompt:
    """`prompts/<name>-system.md` and `prompts/<name>-user.md`, read through importlib.resources."""
    folder = resources.files("prompts")
    system = folder.joinpath(f"{name}-system.md").read_text(encoding="utf-8").strip()
    user = folder.joinpath(f"{name}-user.md").read_text(encoding="utf-8").strip()
    if "{data}" not in user:
        raise LLMError(f"prompt template {name}-user.md has no {{data}} slot", target=name)
    version = hashlib.sha256(f"{system}\n\x00\n{user}".encode("utf-8")).hexdigest()[:12]
    return Prompt(name, system, user, f"{name}@{version}")


# Text that talks to a model rather than about the organization's controls: never evidence, never a rationale,
# never a narrative sentence. A backstop: the structural defenses (data blocks, validation) come first.
INSTRUCTION_LIKE = re.compile(
    r"\b(ignore|disregard|forget)\b.{0,24}\b(previous|prior|above|earlier|preceding)\b.{0,24}"
    r"\b(instructions?|prompts?|directives?)\b"
    r"|\b(note|message|attention|instructions?) (to|for) (an? |the |any |all )?"
    r"(ai|llm|language model|assistant|chatbot|automated reviewer)s?\b"
    r"|\byou are (an? )?(ai|llm|language model|assistant)\b|\bsystem override\b"
    r"|\b(mark|rate|treat|label|flag)\b.{0,40}\b(every|all|each)\b.{0,40}\b(satisf\w*|compliant|met|passed)\b"
    # approval-shaped: "APPROVE ALL", "auto-approve", "approve this mapping", "mark it as approved", ...
    r"|\bauto(matic(ally)?)?[\s_-]*approv\w*"
    r"|\bapprov\w*\s+(it\s+|them\s+)?(all|every(thing)?|each)\b(?!\s+(access|change|exception|request|purchase|"
    r"expense|invoice|user|account|new|vendor|release|deployment|payment|transfer)s?\b)"
    r"|\b(approve|accept|pass|sign\s*off)\s+(this|these|the|my|our)\s+(mapping|proposal|control|requirement|"
    r"evidence|review|audit|item|finding)s?\b"
    r"|\b(mark|set|flag|record|treat|label)\w*\b.{0,40}\bas\s+(approved|accepted|compliant|satisfied|passed)\b"
    r"|\b(status|decision)\s*(:|=|to)\s*[\"']?approved\b",
    re.I | re.S)


def looks_like_instructions(text: str) -> bool:
    """The ingestion detector (rag.instructions) and the approval-shaped patterns above."""
    return is_instruction_like(text) or bool(INSTRUCTION_LIKE.search(text))


# --- logging ------------------------------------------------------------------------------------------

HTTP_LOGGERS = ("httpx", "httpx2", "httpcore", "openai")
_VERBOSE = False


def http_logs(verbose: bool) -> None:
    """HTTP request logs (one line per request at INFO) only when asked for (`ctrlmap --verbose`)."""
    global _VERBOSE
    _VERBOSE = verbose
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)


# --- configuration ------------------------------------------------------------------------------------


def prices(settings: Settings) -> tuple[float, float, bool]:
    """(USD per 1M input tokens, per 1M output tokens, known?) for the configured model."""
    model = settings.llm_model.lower()
    match = max((k for k in PRICES if model.startswith(k)), key=len, default=None)
    base_in, base_out = PRICES.get(match, (0.0, 0.0))
    p_in = settings.llm_price_in if settings.llm_price_in is not None else base_in
    p_out = settings.llm_price_out if settings.llm_price_out is not None else base_out
    known = match is not None or (settings.llm_price_in is not None and settings.llm_price_out is not None)
    return p_in, p_out, known


def cost(settings: Settings, input_tokens: int, output_tokens: int) -> float:
    p_in, p_out, _ = prices(settings)
    return round((input_tokens * p_in + output_tokens * p_out) / 1_000_000, 6)


def make_chat_model(settings: Settings, http_client: Any = None):
    """ChatOpenAI (or AzureChatOpenAI when an Azure endpoint and key are set) from settings. Chat
    Completions only: it is what every OpenAI-compatible server speaks."""
    if not settings.llm_configured:
        raise LLMNotConfigured("LLM mode needs OPENAI_API_KEY, OPENAI_BASE_URL (e.g. a local Ollama or vLLM "
                               "server) or AZURE_OPENAI_ENDPOINT with AZURE_OPENAI_API_KEY")
    # retries are LLMClient's (budget, circuit breaker), so the openai client itself never retries
    common: dict[str, Any] = dict(timeout=settings.llm_timeout_s, max_retries=0,
                                  max_tokens=settings.llm_max_output_tokens, http_client=http_client)
    if not settings.llm_model.startswith(_NO_TEMPERATURE):
        common["temperature"] = 0
    if settings.azure_endpoint and settings.azure_api_key:
        from langchain_openai import AzureChatOpenAI

        return AzureChatOpenAI(azure_endpoint=settings.azure_endpoint, azure_deployment=settings.llm_model,
                               api_version=settings.azure_api_version,
                               api_key=settings.azure_api_key.get_secret_value(), **common)
    from langchain_openai import ChatOpenAI

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    return ChatOpenAI(model=settings.llm_model, api_key=key, base_url=settings.openai_base_url,
                      use_responses_api=False, **common)


# --- accounting ---------------------------------------------------------------------------------------


class ResponseCache:
    """Validated replies in SQLite under the data directory, keyed by a hash of what was asked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, model TEXT, prompt TEXT, "
                       "reply TEXT, created TEXT DEFAULT CURRENT_TIMESTAMP)")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA synchronous = OFF")  # a cache: losing the last writes in a crash costs a re-call
        return db

    def get(self, key: str) -> dict | None:
        with self._connect() as db:
            row = db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, model: str, prompt: str, reply: dict) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO replies (key, model, prompt, reply) VALUES (?, ?, ?, ?)",
                       (key, model, prompt, json.dumps(reply)))


def open_cache(settings: Settings):
    if settings.database_url:  # a server database: every process (and host) shares the cache through it
        from rag.llm_cache import DatabaseCache

        return DatabaseCache(settings.db_url)
    return ResponseCache(Path(settings.data_dir) / "llm-cache.sqlite")


def cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


# --- calls --------------------------------------------------------------------------------------------


@dataclass
class Reply:
    """A validated answer (`data`), or why there is none (`failure`: refusal, malformed, schema, timeout,
    rate_limited, api). `usage` is what this call cost (zero when served from the cache)."""

    data: dict | None = None
    failure: str | None = None
    detail: str = ""
    model: str = ""
    usage: dict = field(default_factory=dict)
    cached: bool = False


class LLMClient:
    """One per run: the chat model, the budget and usage, the circuit breaker, the cache and the concurrency
    limit. Make a fresh one for every run (`new_client`) so that usage and budget are that run's alone."""

    def __init__(self, settings: Settings, http_client: Any = None) -> None:
        self.settings = settings
        http_logs(_VERBOSE)  # a library (wordllama) turns the root logger to INFO at import
        self.chat = make_chat_model(settings, http_client)
        self.usage = Usage(budget=settings.llm_token_budget)
        self.breaker = Breaker(settings.llm_breaker_failures)
        self._slots = threading.BoundedSemaphore(max(1, settings.llm_concurrency))
        self._runnables: dict[tuple[type, str], Any] = {}
        self.structured = settings.llm_structured_output  # "json_schema", or "json_mode" once a server refuses it

    @property
    def model(self) -> str:
        return self.settings.llm_model

    @cached_property
    def cache(self) -> "ResponseCache":
        return open_cache(self.settings)

    @property
    def endpoint(self) -> str:
        return self.settings.azure_endpoint or self.settings.openai_base_url or "https://api.openai.com/v1"

    def ask(self, prompt: Prompt, data: dict, schema: type[BaseModel], key: str, estimate: int) -> Reply:
        """One structured call (or a cache hit), retried on 429, 5xx, timeouts and connection errors.
        Raises BudgetExceeded before an attempt the budget cannot cover, LLMRefused when the endpoint refuses
        the credentials or the model name, and LLMUnavailable once the circuit breaker is open."""
        cached = self.cache.get(key)
        if cached is not None:
            self.usage.hit()
            return Reply(data=cached["data"], model=cached.get("model", self.model), cached=True,
                         usage={"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "cached": True})
        messages = [("system", prompt.system), ("user", prompt.render(data))]
        estimate = self.reservation(estimate)
        reply = Reply(failure="api")
        for attempt in range(self.settings.llm_max_retries + 1):
            self.breaker.check()
            self.usage.reserve(estimate)
            reply, wait = self._attempt(messages, schema, estimate)
            if wait is None:
                break
            if attempt < self.settings.llm_max_retries:
                pause(wait if wait > 0 else backoff(attempt))
        if reply.data is not None:
            self.cache.put(key, self.model, prompt.version, {"data": reply.data, "model": reply.model})
        return reply

    def reservation(self, estimate: int) -> int:
        """What one attempt holds against the budget while in flight: the caller's estimate with a margin for
        the provider's tokenizer, plus the reply's ceiling (max_tokens), so the budget is never overrun."""
        return int(estimate * INPUT_MARGIN) + 1 + self.settings.llm_max_output_tokens

    def _attempt(self, messages: list, schema: type[BaseModel], estimate: int) -> tuple[Reply, float | None]:
        """One request. Returns the reply and None, or a retryable failure and the seconds the server asked
        to wait (0: use the backoff). Settles the attempt's reservation either way."""
        import openai

        try:
            with self._slots:
                out = self._invoke(messages, schema)
        except openai.APIConnectionError as exc:  # includes timeouts
            timeout = isinstance(exc, openai.APITimeoutError)
            # a timed-out request may have been processed (and billed); a refused connection was not
            (self.usage.charge if timeout else self.usage.release)(estimate)
            self.breaker.failure("timeout" if timeout else f"cannot connect: {exc}", self.endpoint)
            return Reply(failure="timeout" if timeout else "api", detail=str(exc)[:300]), 0.0
        except openai.RateLimitError as exc:
            self.usage.release(estimate)
            return Reply(failure="rate_limited", detail=str(exc)[:300]), retry_after(exc)
        except openai.InternalServerError as exc:
            self.usage.charge(estimate)
            self.breaker.failure(f"HTTP {exc.status_code}", self.endpoint)
            return Reply(failure="api", detail=f"{type(exc).__name__}: {exc}"[:300]), retry_after(exc)
        except (openai.OpenAIError, ValueError, KeyError) as exc:
            self.breaker.success()
            reply, tokens = self._failure(exc, estimate)
            self.usage.settle(estimate, *tokens, reply.usage.get("cost_usd", 0.0))
            return reply, None
        self.breaker.success()
        reply, tokens = out
        self.usage.settle(estimate, *tokens, reply.usage.get("cost_usd", 0.0))
        return reply, None

    def _invoke(self, messages: list, schema: type[BaseModel]) -> tuple[Reply, tuple[int, int]]:
        import openai

        method = self.structured
        sent = messages if method == "json_schema" else _schema_in_system_message(messages, schema)
        try:
            out = self._runnable(schema, method).invoke(sent)
        except openai.APIStatusError as exc:
            if method == "json_schema" and _refuses_json_schema(exc):
                # Some OpenAI-compatible servers (llama.cpp's, older vLLM or Ollama) accept only JSON mode: the
                # schema then goes in the system message, and the reply is validated the same strict way.
                LOG.warning("the endpoint refused response_format json_schema; using JSON mode with the schema "
                            "in the instructions for the rest of this run")
                self.structured = "json_mode"
                return self._invoke(messages, schema)
            raise
        raw = out["raw"]
        meta = getattr(raw, "usage_metadata", None) or {}
        tokens = (int(meta.get("input_tokens", 0)), int(meta.get("output_tokens", 0)))
        reply = validate(raw, out.get("parsing_error"), schema)
        return self._with_usage(reply, tokens, (raw.response_metadata or {}).get("model_name")), tokens

    def _runnable(self, schema: type[BaseModel], method: str):
        runnable = self._runnables.get((schema, method))
        if runnable is None:
            options = {"strict": True} if method == "json_schema" else {}
            runnable = self._runnables[(schema, method)] = self.chat.with_structured_output(
                schema.model_json_schema(), method=method, include_raw=True, **options)
        return runnable

    def _failure(self, exc: Exception, estimate: int) -> tuple[Reply, tuple[int, int]]:
        """A failed call as a Reply the caller falls back on; refused credentials or model name raise."""
        import openai

        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)):
            raise refused(exc, self.model, self.endpoint) from exc
        if isinstance(exc, (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError)):
            # the client refuses to parse a reply cut off at the token limit or stopped by a filter
            failure = "malformed" if isinstance(exc, openai.LengthFinishReasonError) else "refusal"
            completion = getattr(exc, "completion", None)
            usage = getattr(completion, "usage", None)
            tokens = (getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0)
            return self._with_usage(Reply(failure=failure, detail=str(exc)[:300]), tokens,
                                    getattr(completion, "model", None)), tokens
        return Reply(failure="api", detail=f"{type(exc).__name__}: {exc}"[:300]), (0, 0)

    def _with_usage(self, reply: Reply, tokens: tuple[int, int], model: str | None) -> Reply:
        reply.usage = {"input_tokens": tokens[0], "output_tokens": tokens[1],
                       "cost_usd": cost(self.settings, *tokens), "cached": False}
        reply.model = model or self.model
        return reply

    def preflight(self) -> dict:
        """One cheap call (a one-token reply) before a run: is the endpoint reachable, the key accepted and
        the model known? Raises LLMRefused or LLMUnavailable with a message saying which; counts in usage."""
        import openai

        estimate = 16 + self.settings.llm_preflight_tokens
        self.usage.reserve(estimate)
        api = self.chat.root_client.with_options(max_retries=0, timeout=min(self.settings.llm_timeout_s, 15.0))
        try:
            out = api.chat.completions.create(model=self.model, max_tokens=self.settings.llm_preflight_tokens,
                                              messages=[{"role": "user", "content": "Reply with OK."}])
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as exc:
            self.usage.release(estimate)
            raise refused(exc, self.model, self.endpoint) from exc
        except openai.BadRequestError:  # the server answered and knows the model; it dislikes the tiny request
            self.usage.release(estimate)
            return {"endpoint": self.endpoint, "model": self.model, "ok": True}
        except (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError) as exc:
            self.usage.release(estimate)
            raise LLMUnavailable(f"the model endpoint {self.endpoint} did not answer the pre-flight check "
                                 f"({type(exc).__name__}: {str(exc)[:120]}); is the server running?",
                                 target="llm") from exc
        tokens = (out.usage.prompt_tokens, out.usage.completion_tokens) if out.usage else (0, 0)
        self.usage.settle(estimate, *tokens, cost(self.settings, *tokens))
        return {"endpoint": self.endpoint, "model": out.model or self.model, "ok": True}


def refused(exc: Exception, model: str, endpoint: str) -> LLMRefused:
    import openai

    if isinstance(exc, openai.NotFoundError):
        why = f"does not know the model {model!r} (HTTP 404): check CTRLMAP_LLM_MODEL and the base URL"
    else:
        why = (f"rejected the credentials (HTTP {getattr(exc, 'status_code', '401')}): check OPENAI_API_KEY "
               "(or the Azure key)")
    return LLMRefused(f"the model endpoint {endpoint} {why}", target="llm")


def retry_after(exc: Exception) -> float:
    """Seconds a 429 or 5xx reply asks the client to wait (retry-after-ms or retry-after), capped at 20 s."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return min(20.0, float(headers["retry-after-ms"]) / 1000)
        if headers.get("retry-after"):
            return min(20.0, float(headers["retry-after"]))
    except ValueError:
        pass
    return 0.0


def backoff(attempt: int) -> float:
    return min(8.0, 0.5 * 2 ** attempt) * (0.75 + 0.5 * random.random())


def pause(seconds: float) -> None:
    time.sleep(seconds)


def _refuses_json_schema(exc: Exception) -> bool:
    """A 400, 422 or 500 whose message names response_format or json_schema: the server has no structured
    outputs (a model that merely failed to follow the schema is a different failure, handled by validate)."""
    import openai

    status = getattr(exc, "status_code", None)
    text = str(exc).lower()
    return (isinstance(exc, openai.APIStatusError) and status in (400, 422, 500)
            and ("response_format" in text or "json_schema" in text))


def _schema_in_system_message(messages: list, schema: type[BaseModel]) -> list:
    """JSON mode carries no schema, so the instructions end with it."""
    role, text = messages[0]
    spec = json.dumps(schema.model_json_schema(), separators=(",", ":"))
    return [(role, f"{text}\n\nThe JSON object must follow this JSON Schema:\n{spec}"), *messages[1:]]


def validate(raw, parsing_error: Exception | None, schema: type[BaseModel]) -> Reply:
    """Strictly parse the raw message: a refusal, malformed JSON or a schema violation is a failure."""
    try:
        from langchain_core.exceptions import ModelRefusalError
    except ImportError:  # older langchain-core: the message's refusal field is checked below anyway
        ModelRefusalError = ()  # noqa: N806

    refusal = (raw.additional_kwargs or {}).get("refusal")
    finish = (raw.response_metadata or {}).get("finish_reason")
    if refusal or finish == "content_filter" or isinstance(parsing_error, ModelRefusalError):
        return Reply(failure="refusal", detail=str(refusal or parsing_error or finish)[:300])
    content = raw.content if isinstance(raw.content, str) else ""
    try:
        obj = json.loads(content)
    except (json.JSONDecodeError, TypeError) as exc:
        return Reply(failure="malformed", detail=f"{exc} (finish_reason={finish})"[:300])
    try:
        return Reply(data=schema.model_validate(obj).model_dump())
    except ValidationError as exc:
        return Reply(failure="schema", detail=str(exc)[:300])


def message_tokens(prompt: Prompt, data: dict, schema: type[BaseModel]) -> int:
    """Input tokens of one call, counted offline: both messages, their framing, and the response schema."""
    from rag.embeddings import count_tokens

    return (_fixed_tokens(prompt, schema) + count_tokens(prompt.render(data)) + 2 * MESSAGE_OVERHEAD
            + REPLY_OVERHEAD)


@lru_cache(maxsize=16)
def _fixed_tokens(prompt: Prompt, schema: type[BaseModel]) -> int:
    """The system prompt and the response format with its schema: the same in every call."""
    from rag.embeddings import count_tokens

    response_format = {"type": "json_schema", "json_schema": {"name": schema.model_json_schema().get("title", ""),
                                                              "strict": True, "schema": schema.model_json_schema()}}
    return count_tokens(prompt.system) + count_tokens(json.dumps(response_format, separators=(",", ":")))


def new_client(ctx_or_settings, http_client: Any = None) -> LLMClient:
    """A fresh client (its own budget, usage and breaker) for one run. Pass the same client to the judge and
    the narrative writer of that run so both count against one budget."""
    settings = getattr(ctx_or_settings, "settings", ctx_or_settings)
    return LLMClient(settings, http_client)


client_for = new_client  # the name older callers use; it no longer caches a client per context
