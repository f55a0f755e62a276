"""Shared fixtures: a throw-away data directory and context per test, a hermetic environment (no LLM keys,
no network settings leak in), and access to ../shared for tests that need the real datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.context import Context
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

_LEAKY_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY",
              "OPENAI_API_VERSION")


@pytest.fixture(scope="session", autouse=True)
def audit_key_home(tmp_path_factory):
    """The default audit key file (`$XDG_CONFIG_HOME/ctrlmap/audit.key`) goes to a temporary folder, never ~."""
    before = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    yield Path(os.environ["XDG_CONFIG_HOME"])
    if before is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = before


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("CTRLMAP_") or name in _LEAKY_ENV:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture
def shared_dir() -> Path:
    """../shared; skipped when absent, but a failure when CI is set (CI always has it)."""
    if not (SHARED / "evals" / "datasets").is_dir():
        if os.environ.get("CI"):
            pytest.fail("../shared is missing but CI is set: the evaluation data must be beside the checkout")
        pytest.skip("../shared is not beside this checkout")
    return SHARED


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.load("offline", data_dir=tmp_path / "data")


@pytest.fixture
def ctx(settings):
    context = Context(settings)
    yield context
    context.close()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The full offline demo, run once per session (other tests read its outputs)."""
    from rag.demo import run_demo

    base = tmp_path_factory.mktemp("demo")
    context = Context(Settings.load("offline", data_dir=base / "data"))
    result = run_demo(context, base / "out")
    yield context, result
    context.close()
