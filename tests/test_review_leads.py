"""What a reviewer sees first: the queue lists each clause's proposals most confident first, `review clause`
shows its candidates the same way, and below them the clause's leads, the documents the last mapping run
ranked next without proposing them (from the stored ranking, with their confidence). Offline, on the sample
organization's policies mapped to SOC 2."""

from __future__ import annotations

import json
from itertools import groupby

import pytest
from typer.testing import CliRunner

from api.cli import app
from rag import workflows
from rag.context import Context
from rag.queue import natural_key
from rag.samples import sample_dir
from rag.score import default_model
from rag.settings import Settings

SOC2 = "soc2-tsc-2017"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    data = tmp_path_factory.mktemp("leads") / "data"
    ctx = Context(Settings.load("offline", data_dir=data))
    with sample_dir() as sample:
        workflows.ingest_documents(ctx, "default", [str(sample / "policies")], "tester")
    workflows.run_mapping(ctx, "default", [SOC2], "tester")
    ctx.close()
    return data


def _cli(data_dir, *args):
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), "--preset", "offline", *args])
    assert result.exit_code == 0, result.output
    return result


def test_the_queue_shows_each_clause_s_most_confident_proposal_first(data_dir):
    rows = json.loads(_cli(data_dir, "review", "list", "-f", "soc2", "--limit", "1000", "--json").stdout)
    clauses = [clause for clause, _ in groupby(rows, key=lambda r: r["clause_id"])]
    assert len(clauses) == len(set(clauses)) and clauses == sorted(clauses, key=natural_key)
    for _, group in groupby(rows, key=lambda r: r["clause_id"]):
        confidences = [r["confidence"] for r in group]
        assert confidences == sorted(confidences, reverse=True)
    assert any(a["clause_id"] == b["clause_id"] for a, b in zip(rows, rows[1:]))  # some clause has several


def test_review_clause_lists_the_leads_below_the_candidates(data_dir):
    view = json.loads(_cli(data_dir, "review", "clause", "soc2", "CC6.1", "--json").stdout)
    candidates, leads = view["candidates"], view["leads"]
    assert [c["confidence"] for c in candidates] == sorted((c["confidence"] for c in candidates), reverse=True)
    assert 0 < len(leads) <= 3
    assert not {lead["document"] for lead in leads} & {c["document"] for c in candidates}
    assert [lead["rank"] for lead in leads] == sorted(lead["rank"] for lead in leads)
    assert [lead["confidence"] for lead in leads] == sorted((lead["confidence"] for lead in leads), reverse=True)
    assert all(lead["confidence"] < default_model().threshold for lead in leads)  # below the proposal threshold

    shown = " ".join(_cli(data_dir, "review", "clause", "soc2", "CC6.1").stdout.split())
    assert "leads" in shown and all(lead["document"] in shown for lead in leads)
    assert "leads" not in _cli(data_dir, "review", "clause", "soc2", "CC6.1", "--leads", "0").stdout


def test_a_gap_stays_a_gap_and_shows_where_to_look(data_dir):
    report = json.loads(_cli(data_dir, "coverage", "-f", "soc2", "--json").stdout)
    gap = next(c["clause_id"] for c in report["clauses"] if c["status"] == "gap")
    view = json.loads(_cli(data_dir, "review", "clause", "soc2", gap, "--json").stdout)
    assert view["candidates"] == [] and view["leads"] and view["leads"][0]["rank"] == 1


def test_the_queue_previews_a_quote_on_one_line_and_marks_only_a_cut():
    """A quote spanning list items prints on one line in `review list` and `review clause`; an ellipsis
    appears only where the preview was cut (`review show` prints the quote verbatim)."""
    from types import SimpleNamespace

    from api.cli_review import _preview

    def proposal(quote):
        return SimpleNamespace(citations=[SimpleNamespace(quote=quote)])

    assert _preview(proposal("- Systematic recovery\n\n- Validation of systems"), 70) == \
        "- Systematic recovery - Validation of systems"
    assert _preview(proposal("word " * 30), 20) == "word word word word…"
    assert _preview(SimpleNamespace(citations=[])) == ""
