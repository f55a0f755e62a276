"""Simulated judges in `ctrlmap eval`: served through the real LLM client over an in-process transport, reported
in their own rows, and held to floors on the smallest development dataset so the candidate ceiling and the
judged figures cannot silently fall. (Simulations: they measure the pipeline around a model, not a model.)

Floors sit a little below the figures measured on strongdm_comply when they were set (evals/REPORT.md):
ceiling 0.987, oracle F1 0.724 with precision 1.0, oracle MAP 1.000 against 0.547 offline, noisy:0.2 F1 0.373.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from api.cli import app
from evals.simulated import parse_judge, quote_from
from rag.errors import InvalidInput

pytestmark = [pytest.mark.shared, pytest.mark.slow]

CEILING_FLOOR, ORACLE_F1_FLOOR, NOISY_F1_FLOOR = 0.90, 0.70, 0.30


_CACHE: dict = {}


@pytest.fixture
def runs(shared_dir, tmp_path_factory):
    """One eval run shared by the tests of this module (shared_dir is function-scoped)."""
    if "runs" not in _CACHE:
        _CACHE["runs"] = _run(shared_dir, tmp_path_factory)
    return _CACHE["runs"]


def _run(shared_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "eval.json"
    report = out.parent / "report"
    result = CliRunner().invoke(app, ["eval", "-d", str(shared_dir / "evals" / "datasets" / "strongdm_comply"),
                                      "--no-baselines", "--judge", "oracle", "--judge", "noisy:0.2",
                                      "--json", str(out), "--report", str(report)])
    assert result.exit_code == 0, result.output
    by = {r["method"]: r for r in json.loads(out.read_text())["runs"]}
    return by, (report / "report.md").read_text()


def test_simulated_rows_are_labeled_and_measure_the_ceiling(runs):
    by, report = runs
    assert set(by) == {"ctrlmap", "oracle (simulated)", "noisy:0.2 (simulated)"}
    oracle, noisy, offline = by["oracle (simulated)"], by["noisy:0.2 (simulated)"], by["ctrlmap"]
    assert oracle["mode"] == noisy["mode"] == "simulated" and offline["mode"] == "offline"
    assert oracle["ceiling"] >= CEILING_FLOOR and oracle["ceiling"] == noisy["ceiling"]
    assert oracle["precision"] == 1.0 and oracle["f1"] >= ORACLE_F1_FLOOR and noisy["f1"] >= NOISY_F1_FLOOR
    assert oracle["citation_failures"] == noisy["citation_failures"] == 0
    assert "Simulated judges (simulations, not a model)" in report and "never a model's quality" in report


def test_verdicts_rank(runs):
    """In llm mode the ranking reflects the judge's verdicts: the oracle lifts MAP far above offline."""
    by, _ = runs
    assert by["oracle (simulated)"]["map"] >= by["ctrlmap"]["map"] + 0.3


def test_usage_is_per_run_and_within_the_token_allowance(runs):
    by, _ = runs
    for row in (by["oracle (simulated)"], by["noisy:0.2 (simulated)"]):
        assert row["calls"] == row["clauses_judged"] > 0  # this run's calls only, one per clause
        assert row["calls_per_clause"] == 1.0 and 1500 < row["input_tokens_per_clause"] <= 2500
        assert row["stopped"] is None and row["fallbacks"] == 0


def test_judge_specs():
    assert parse_judge("oracle").flip == 0 and parse_judge("noisy:0.1").flip == 0.1
    assert parse_judge("noisy:0.2:7").seed == 7 and parse_judge("noisy:0.2").label == "noisy:0.2 (simulated)"
    for bad in ("noisy", "noisy:1.5", "gpt", "noisy:x"):
        with pytest.raises(InvalidInput):
            parse_judge(bad)


def test_oracle_quotes_meet_the_quote_policy():
    text = "Access. Managers review the access of their direct reports every quarter and remove stale access."
    assert quote_from(text) == text.split(". ", 1)[1]
