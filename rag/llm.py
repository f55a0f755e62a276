"""The language-model provider layer: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, ...) or Azure
OpenAI through langchain-openai, configured from settings.

What this layer guarantees to its callers (the judge and the narrative writer):
- prompts are files in the `prompts` package, versioned by content hash;
- document text reaches the model only inside a delimited DATA block of the user message (JSON inside
  markers whose tag is a hash of the data, so the data cannot forge the closing marker);
- structured output in JSON-schema mode, and a reply is used only when it parses strictly as JSON and
  validates against the pydantic schema; refusals, malformed JSON and schema violations are reported as
  failures, never guessed at;
- timeouts, and retries with exponential backoff on 429 and 5xx (the openai client does this:
  `max_retries`, honouring `Retry-After`), a concurrency limit, a per-run token budget that stops cleanly
  (`BudgetExceeded`), token and cost accounting, and a cache so unchanged inputs make no second call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from rag.errors import BudgetExceeded, LLMError, LLMNotConfigured
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
    r"|\b(mark|rate|treat|label|flag)\b.{0,40}\b(every|all|each)\b.{0,40}\b(satisf\w*|compliant|met|passed)\b",
    re.I | re.S)


def looks_like_instructions(text: str) -> bool:
    return bool(INSTRUCTION_LIKE.search(text))


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
    common: dict[str, Any] = dict(timeout=settings.llm_timeout_s, max_retries=settings.llm_max_retries,
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


@dataclass
class Usage:
    """What a run has spent. Thread-safe; `reserve` enforces the token budget before each call."""

    budget: int
    calls: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    reserved: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def spent(self) -> int:
        return self.input_tokens + self.output_tokens

    def reserve(self, tokens: int) -> None:
        with self._lock:
            if self.spent + self.reserved + tokens > self.budget:
                raise BudgetExceeded(f"token budget of {self.budget:,} reached ({self.spent:,} spent); "
                                     "raise CTRLMAP_LLM_TOKEN_BUDGET to continue", target="llm")
            self.reserved += tokens

    def release(self, reserved: int) -> None:
        with self._lock:
            self.reserved -= reserved

    def settle(self, reserved: int, input_tokens: int, output_tokens: int, usd: float) -> None:
        with self._lock:
            self.reserved -= reserved
            self.calls += 1
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self.cost_usd = round(self.cost_usd + usd, 6)

    def hit(self) -> None:
        with self._lock:
            self.cache_hits += 1

    def as_dict(self) -> dict:
        return {"calls": self.calls, "cache_hits": self.cache_hits, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "cost_usd": round(self.cost_usd, 6)}


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
    """One per run: the chat model, the budget and usage, the cache and the concurrency limit."""

    def __init__(self, settings: Settings, http_client: Any = None) -> None:
        self.settings = settings
        self.chat = make_chat_model(settings, http_client)
        self.usage = Usage(budget=settings.llm_token_budget)
        self.cache = open_cache(settings)
        self._slots = threading.BoundedSemaphore(max(1, settings.llm_concurrency))
        self._runnables: dict[tuple[type, str], Any] = {}
        self.structured = settings.llm_structured_output  # "json_schema", or "json_mode" once a server refuses it

    @property
    def model(self) -> str:
        return self.settings.llm_model

    def ask(self, prompt: Prompt, data: dict, schema: type[BaseModel], key: str, estimate: int) -> Reply:
        """One structured call (or a cache hit). Raises BudgetExceeded before a call the budget cannot
        cover, and LLMError when the endpoint refuses the credentials or the model name."""
        cached = self.cache.get(key)
        if cached is not None:
            self.usage.hit()
            return Reply(data=cached["data"], model=cached.get("model", self.model), cached=True,
                         usage={"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "cached": True})
        self.usage.reserve(estimate)
        messages = [("system", prompt.system), ("user", prompt.render(data))]
        try:
            reply, tokens = self._call(messages, schema)
        except BaseException:
            self.usage.release(estimate)
            raise
        self.usage.settle(estimate, tokens[0], tokens[1], reply.usage.get("cost_usd", 0.0))
        if reply.data is not None:
            self.cache.put(key, self.model, prompt.version, {"data": reply.data, "model": reply.model})
        return reply

    def _call(self, messages: list, schema: type[BaseModel]) -> tuple[Reply, tuple[int, int]]:
        import openai

        method = self.structured
        runnable = self._runnable(schema, method)
        sent = messages if method == "json_schema" else _schema_in_system_message(messages, schema)
        try:
            with self._slots:
                out = runnable.invoke(sent)
        except (openai.OpenAIError, ValueError, KeyError) as exc:
            if method == "json_schema" and _refuses_json_schema(exc):
                # Some OpenAI-compatible servers (llama.cpp's, older vLLM or Ollama) accept only JSON mode: the
                # schema then goes in the system message, and the reply is validated the same strict way.
                LOG.warning("the endpoint refused response_format json_schema; using JSON mode with the schema "
                            "in the instructions for the rest of this run")
                self.structured = "json_mode"
                return self._call(messages, schema)
            return self._failure(exc)
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

    def _failure(self, exc: Exception) -> tuple[Reply, tuple[int, int]]:
        """A failed call as a Reply the caller falls back on; refused credentials or model name raise."""
        import openai

        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)):
            raise LLMError(f"the model endpoint refused the request ({type(exc).__name__}): check the key, "
                           f"base URL and model name {self.model!r}", target="llm") from exc
        if isinstance(exc, openai.APITimeoutError):
            return Reply(failure="timeout", detail=str(exc)), (0, 0)
        if isinstance(exc, openai.RateLimitError):
            return Reply(failure="rate_limited", detail=str(exc)), (0, 0)
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
    """The system prompt and the response schema: the same in every call."""
    from rag.embeddings import count_tokens

    return count_tokens(prompt.system) + count_tokens(json.dumps(schema.model_json_schema(), separators=(",", ":")))


_CLIENTS: "weakref.WeakKeyDictionary[Any, LLMClient]" = weakref.WeakKeyDictionary()
_CLIENTS_LOCK = threading.Lock()


def client_for(ctx, http_client: Any = None) -> LLMClient:
    """The run's client for this context, shared by the judge and the narrative writer (one budget)."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(ctx)
        if client is None or http_client is not None:
            client = _CLIENTS[ctx] = LLMClient(ctx.settings, http_client)
        return client
