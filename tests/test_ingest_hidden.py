"""Text a reader cannot see, one generated specimen per way of hiding it (rag.ingest.specimens): DOCX runs
inside table cells, HTML hidden by style sheets, inline styles and self-closed elements, Markdown hidden
blocks split by blank lines, nested, white or tiny spans and comments holding `>`. Each goes through the
public pipeline (ingest_bytes, then an offline mapping run) and its canary never reaches a visible passage,
the index or a proposal's citation."""

from __future__ import annotations

import pytest

from rag.ingest import specimens
from rag.ingest.pipeline import ingest_bytes
from rag.mapping import propose
from rag.retrieve import load_passages
from rag.review import list_proposals, save_run

CASES = {**{name: (f"{name}.html", text.encode()) for name, text in specimens.hidden_html().items()},
         **{name: (f"{name}.md", text.encode()) for name, text in specimens.hidden_markdown().items()},
         **{name: (f"{name}.docx", data) for name, data in specimens.hidden_table_docx().items()}}
COMMENTS = {"md-comment-with-gt", "md-inline-comment-with-gt", "html-unclosed-comment"}  # comments are dropped, not kept as hidden text


@pytest.mark.parametrize("case", sorted(CASES))
def test_hidden_text_is_flagged_and_never_retrievable(ctx, case):
    name, data = CASES[case]
    ws = ctx.workspace("hidden", create=True)
    result = ingest_bytes(ctx, ws, name, data)
    assert result.status == "ingested" and result.passages > 0
    canary = specimens.canary(case)
    visible = load_passages(ctx, ws).passages
    assert visible and not [p.text for p in visible if canary in p.text]
    assert any("Owners review access" in p.text or "Quarterly access review" in p.text for p in visible)
    flagged = [p for p in load_passages(ctx, ws, include_hidden=True).passages if p.hidden]
    if case not in COMMENTS:
        assert result.hidden_passages >= 1 and any(canary in p.text for p in flagged)
    assert not {p.id for p in flagged} & ctx.index.ids(ws)  # hidden passages are never indexed


def test_no_proposal_cites_hidden_text(ctx):
    ws = ctx.workspace("hidden-map", create=True)
    for name, data in CASES.values():
        ingest_bytes(ctx, ws, name, data)
    save_run(ctx, ws, propose(ctx, ws, ["soc2-tsc-2017", "iso27001-2022"]))
    proposals = list_proposals(ctx, ws, limit=10**6)
    quotes = [c.quote for p in proposals for c in p.citations]
    assert quotes, "the visible access-review text should be proposed somewhere"
    assert not [q for q in quotes if "CANARY" in q]
    assert not [p.rationale for p in proposals if "CANARY" in p.rationale]


def test_white_text_on_a_painted_background_stays_visible():
    from rag.ingest.html import parse_html

    doc = parse_html('<html><body><div style="background:#1a1a1a;color:#fff"><p>Dark theme text stays.</p>'
                     '</div><style>.dark{background-color:navy}</style><p class="dark" style="color:white">'
                     'Also visible.</p><p style="color:white"><span style="color:black">Black child.</span></p>'
                     '<div style="background:#000"><p style="color:white">Child on a dark parent.</p></div>'
                     '<p style="background:none;color:#fff">Hidden on no background.</p></body></html>')
    assert [doc.text[h.start:h.end] for h in doc.hidden] == ["Hidden on no background."]
    assert "Dark theme text stays." in doc.text and "Black child." in doc.text


def test_print_only_rules_hide_nothing_on_screen():
    from rag.ingest.html import parse_html

    doc = parse_html("<html><head><style>@media print { .nav { display: none } }</style></head><body>"
                     '<p class="nav">Shown on screen.</p></body></html>')
    assert not doc.hidden and "Shown on screen." in doc.text


def test_hidden_text_is_never_shown_around_evidence(ctx):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from rag.auth import Role, create_key

    ws = ctx.workspace("hidden-api", create=True)
    shas = [ingest_bytes(ctx, ws, name, data).sha256 for name, data in CASES.values()]
    save_run(ctx, ws, propose(ctx, ws, ["soc2-tsc-2017"]))
    key, _ = create_key(ctx, Role.viewer, ws, name="Vera Viewer")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(ctx=ctx)) as client:
        windows = [client.get(f"/api/workspaces/{ws}/versions/{sha}/text?start=0&window=200000", headers=headers)
                   for sha in shas]
        details = [client.get(f"/api/workspaces/{ws}/proposals/{p.id}?context=5000", headers=headers)
                   for p in list_proposals(ctx, ws, limit=500)]
    assert all(r.status_code == 200 for r in windows + details) and details
    shown = [r.text for r in windows + details]
    assert not [t for t in shown if "CANARY" in t]
    assert any("Owners review access" in t for t in shown)
