"""One Settings object (environment variables prefixed `CTRLMAP_`), with named presets.

A preset is a named bundle of overrides (paper-qa style); explicit environment variables and keyword
arguments win over the preset. `Settings.load("thorough", top_k=12)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import ConfigError

PRESETS: dict[str, dict[str, Any]] = {
    # The default: offline unless OPENAI_API_KEY / OPENAI_BASE_URL (or Azure settings) are present.
    "default": {"mode": "auto"},
    # Never call a model, whatever the environment holds: lexical + static-embedding retrieval.
    "offline": {"mode": "offline"},
    # Fewer candidates, smaller passages: quick first look at a large policy set.
    "fast": {"mode": "offline", "candidates_per_clause": 30, "max_proposals_per_clause": 3},
    # More candidates per clause and a judge that sees more of them (LLM when configured).
    "thorough": {"candidates_per_clause": 120, "max_proposals_per_clause": 8, "judge_input_tokens": 4000},
    # Any OpenAI-compatible endpoint; the judge and narrative writer switch on.
    "llm": {"mode": "llm"},
    # A local Ollama server (OpenAI-compatible API); embeddings stay offline.
    "ollama": {"mode": "llm", "openai_base_url": "http://127.0.0.1:11434/v1", "llm_model": "llama3.1:8b",
               "llm_price_in": 0.0, "llm_price_out": 0.0},
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CTRLMAP_", extra="ignore", populate_by_name=True)

    preset: str = "default"
    data_dir: Path = Path(".ctrlmap")
    database_url: str | None = None  # default: SQLite file in data_dir
    workspace: str = "default"

    # a server moves the audit checkpoint file at most this often (seconds) instead of after every commit;
    # None: `ctrlmap serve` uses 1.0, everything else writes it after each commit
    checkpoint_seconds: float | None = None
    # a server runs at most this many requests at once per process; the rest wait their turn in the event loop
    # rather than in the GIL, the audit chain's lock or the connection pool (under 50 concurrent reviewers on
    # PostgreSQL, 2 processes, evals/bench/load.py: 3 threads 299-311 decisions/s, 4 325-333/s, 6 322-348/s,
    # 8 315-365/s with p95 rising to 116-132 ms, 16 330-361/s at p95 151-162 ms; on SQLite 6 was best too)
    server_threads: int = 6
    db_pool_size: int = 8  # pooled PostgreSQL connections per process (requests, job thread, checkpoint pacer)

    # embeddings
    embedding_backend: Literal["wordllama", "openai"] = "wordllama"
    embedding_model: str = "l2_supercat_256"
    openai_embedding_model: str = "text-embedding-3-small"

    # ingestion
    chunk_tokens: int = 180
    chunk_overlap: int = 30
    min_section_tokens: int = 12
    max_file_mb: float = 50.0
    parse_timeout_s: float = 60.0
    parse_memory_mb: int = 1536

    # mapping
    mode: Literal["auto", "offline", "llm"] = "auto"
    candidates_per_clause: int = 60
    dense_candidates: int = 150  # nearest passages per clause query taken from the vector index
    max_proposals_per_clause: int = 5
    citations_per_proposal: int = 2
    judge_candidates: int = 6  # (older setting, kept for presets) see judge_documents / judge_input_tokens
    judge_documents: int = 26  # the judge sees the best passage(s) of up to this many top documents per clause ...
    judge_passages_per_document: int = 1
    judge_input_tokens: int = 2500  # ... packed, best document first, into at most this many input tokens
    judge_passage_chars: int = 300  # each passage as an excerpt (whole sentences) around its best sentence

    # language model (any OpenAI-compatible endpoint, or Azure OpenAI)
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CTRLMAP_OPENAI_API_KEY", "OPENAI_API_KEY"))
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("CTRLMAP_OPENAI_BASE_URL", "OPENAI_BASE_URL"))
    azure_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("CTRLMAP_AZURE_ENDPOINT", "AZURE_OPENAI_ENDPOINT"))
    azure_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CTRLMAP_AZURE_API_KEY", "AZURE_OPENAI_API_KEY"))
    azure_api_version: str = Field(
        default="2024-10-21", validation_alias=AliasChoices("CTRLMAP_AZURE_API_VERSION", "OPENAI_API_VERSION"))
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = 60.0
    llm_max_retries: int = 4
    llm_concurrency: int = 4
    llm_token_budget: int = 2_000_000
    llm_max_output_tokens: int = 1200
    llm_breaker_failures: int = 3  # consecutive connection/timeout/5xx failures that stop a run's calls
    llm_preflight_tokens: int = 1
    # structured outputs: "json_schema" (strict schema, OpenAI, recent vLLM and Ollama), or "json_mode" (the
    # schema in the instructions) for servers without it; a refusal of json_schema switches a run by itself
    llm_structured_output: Literal["json_schema", "json_mode"] = "json_schema"
    llm_price_in: float | None = None  # USD per 1M input tokens; None: use the built-in table
    llm_price_out: float | None = None

    # service
    host: str = "127.0.0.1"
    port: int = 8000
    session_hours: float = 12.0  # a web sign-in lasts this long (or until sign-out)
    denied_per_minute: int = 60  # refused requests a client may make per minute before it gets 429
    denied_retention_days: int = 90  # denied-request counters older than this are dropped
    # audit chain key (HMAC-SHA256), kept outside the data directory; see rag/audit_key.py
    audit_key: SecretStr | None = None
    audit_key_file: Path | None = None

    # several processes: job leases (rag.jobs) and a shared Chroma server (rag.index)
    job_lease_s: float = 30.0
    job_poll_s: float = 0.5  # how often an idle worker looks for work (SQLite, or no notification listener)
    job_idle_poll_s: float = 5.0  # ... while it hears PostgreSQL's notifications of queued jobs (rag.job_wakeup)
    chroma_url: str | None = None  # e.g. http://127.0.0.1:8001; unset: embedded Chroma in data_dir
    chroma_token: SecretStr | None = None

    @classmethod
    def load(cls, preset: str | None = None, **overrides: Any) -> "Settings":
        """Settings from a named preset, then the environment, then explicit overrides."""
        env_only = cls(**{k: v for k, v in overrides.items() if k == "preset"})
        name = preset or env_only.preset
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
        explicit_env = cls.model_fields_set_from_env()
        merged = {k: v for k, v in PRESETS[name].items() if k not in explicit_env}
        merged.update({k: v for k, v in overrides.items() if v is not None})
        merged["preset"] = name
        return cls(**merged)

    @classmethod
    def model_fields_set_from_env(cls) -> set[str]:
        return set(cls().model_fields_set)

    # --- derived ---------------------------------------------------------------------------------

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'ctrlmap.db').resolve()}"

    @property
    def request_limit_bytes(self) -> int:
        """The largest request body accepted: one upload at the file limit plus its multipart envelope."""
        return int((self.max_file_mb + 1) * 1024 * 1024)

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def llm_configured(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url or (self.azure_endpoint and self.azure_api_key))

    @property
    def use_llm(self) -> bool:
        if self.mode == "llm":
            return True
        return self.mode == "auto" and self.llm_configured

    def describe(self) -> dict[str, Any]:
        """Settings safe to print: secrets masked."""
        data = self.model_dump()
        for key in ("openai_api_key", "azure_api_key", "audit_key"):
            data[key] = "***" if data.get(key) else None
        data["data_dir"] = str(self.data_dir)
        data["database"] = self.db_url if not self.database_url else "(custom)"
        data["llm"] = "on" if self.use_llm else "off"
        return data
