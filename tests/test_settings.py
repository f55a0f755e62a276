"""Settings: CTRLMAP_ environment variables, the OpenAI variables, presets, masked secrets."""

from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.settings import Settings


def test_defaults_are_offline():
    s = Settings.load()
    assert s.data_dir == Path(".ctrlmap") and s.embedding_backend == "wordllama"
    assert not s.use_llm and s.db_url.startswith("sqlite:///")


def test_environment_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv("CTRLMAP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CTRLMAP_CHUNK_TOKENS", "99")
    s = Settings.load()
    assert s.data_dir == tmp_path and s.chunk_tokens == 99


def test_openai_variables_switch_llm_on(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    s = Settings.load()
    assert s.llm_configured and s.use_llm
    assert s.describe()["openai_api_key"] == "***"
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    assert Settings.load().use_llm


def test_presets_and_overrides(monkeypatch):
    assert Settings.load("fast").candidates_per_clause == 30
    assert Settings.load("fast", candidates_per_clause=7).candidates_per_clause == 7
    monkeypatch.setenv("CTRLMAP_CANDIDATES_PER_CLAUSE", "11")
    assert Settings.load("fast").candidates_per_clause == 11  # the environment wins over the preset
    assert Settings.load("ollama").openai_base_url.startswith("http://127.0.0.1")
    with pytest.raises(ConfigError, match="unknown preset"):
        Settings.load("nope")


def test_offline_preset_keeps_llm_off_even_with_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    assert not Settings.load("offline").use_llm
