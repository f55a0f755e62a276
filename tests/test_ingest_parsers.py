"""Parsers: one canonical text per document with heading paths, pages, table cells and offsets; type decided
by content; text a reader cannot see kept but flagged."""

from pathlib import Path

import pytest

from rag.ingest import detect, specimens
from rag.ingest.html import parse_html
from rag.ingest.markdown import parse_markdown, parse_text
from rag.ingest.office import parse_docx
from rag.ingest.parse import parse_bytes
from rag.ingest.pdf import parse_pdf

SAMPLES = Path(__file__).resolve().parents[1] / "corpora" / "samples" / "halcyon" / "policies"

MARKDOWN = """---
owner: security
---
# Access Control Policy

Intro paragraph before any subsection.

## 1. Provisioning

Access is granted after **written** approval.

- Accounts are named.
- MFA is required.

## 2. Reviews

| System | Reviewer | Frequency |
| --- | --- | --- |
| AWS | Platform lead | Quarterly |

<div style="display:none">Hidden html says everything is approved.</div>
"""


def _slices_ok(doc) -> None:
    for sec in doc.sections:
        assert doc.text[sec.start:sec.end].startswith(sec.heading_path[-1]) if sec.heading_path else True
    for cell in doc.cells:
        assert "|" not in doc.text[cell.start:cell.end]


def test_markdown_structure_cells_and_hidden_html():
    doc = parse_markdown(MARKDOWN)
    assert doc.title == "Access Control Policy" and "owner: security" not in doc.text
    paths = [s.heading_path for s in doc.sections]
    assert ["Access Control Policy", "2. Reviews"] in paths
    assert "- Accounts are named." in doc.text and "**" not in doc.text
    cells = {(c.row, c.col): doc.text[c.start:c.end] for c in doc.cells}
    assert cells[(1, 0)] == "AWS" and cells[(1, 2)] == "Quarterly" and cells[(0, 1)] == "Reviewer"
    assert len(doc.tables) == 1
    assert [doc.text[h.start:h.end] for h in doc.hidden] == ["Hidden html says everything is approved."]
    _slices_ok(doc)


def test_html_headings_tables_hidden():
    html = ("<!doctype html><html><head><title>Vendor Policy</title><style>p{}</style></head><body>"
            "<h1>Vendor Policy</h1><p>Vendors are assessed before onboarding.</p><h2>Review</h2>"
            "<table><tr><th>Tier</th><th>Review</th></tr><tr><td>High</td><td>Annual</td></tr></table>"
            "<p style='display: none'>Invisible exception for every vendor.</p><script>var x=1</script>"
            "</body></html>")
    doc = parse_html(html)
    assert doc.title == "Vendor Policy" and "var x" not in doc.text
    assert doc.sections[-1].heading_path == ["Vendor Policy", "Review"]
    assert {doc.text[c.start:c.end] for c in doc.cells} == {"Tier", "Review", "High", "Annual"}
    assert [h.reason for h in doc.hidden] == ["html-hidden"]


def test_plain_text_heading_heuristic():
    doc = parse_text("ACCESS CONTROL POLICY\n\n1. Purpose\n\nThis policy sets rules for access.\n\n"
                     "2. Scope\n\nAll systems are in scope.\n")
    assert [s.heading_path for s in doc.sections][-1] == ["ACCESS CONTROL POLICY", "2. Scope"]


def test_pdf_headings_from_font_size_pages_and_paragraphs():
    data = specimens.text_pdf(specimens.policy_pages(3))
    doc = parse_pdf(data)
    assert doc.pages == 3 and doc.parser == "pypdfium2"
    heads = [s.heading_path[-1] for s in doc.sections if s.heading_path]
    assert heads == ["1. Section 1 controls", "2. Section 2 controls", "3. Section 3 controls"]
    assert [s.page for s in doc.sections if s.heading_path] == [1, 2, 3]
    assert doc.page_at(doc.sections[-1].start + 10) == 3
    assert not doc.hidden


def test_pdf_sample_structure():
    doc = parse_pdf((SAMPLES / "encryption-standard.pdf").read_bytes())
    paths = [s.heading_path for s in doc.sections]
    assert doc.title.endswith("Encryption and Key Management Standard")
    assert any(p[-2:] == ["7. Key management", "7.3 Rotation"] for p in paths)
    assert not any(p and p[-1].startswith(("•", "1. All")) for p in paths)  # list items are not headings
    assert "TLS configuration of load balancers" in doc.text  # wrapped lines joined in one paragraph


def test_pdf_without_typographic_variation_uses_plain_heuristic():
    page = [("ACCESS CONTROL POLICY", 10), ("", 10), ("Accounts are reviewed every quarter by owners.", 10)]
    doc = parse_pdf(specimens.text_pdf([page]))
    assert doc.sections[0].heading_path == ["ACCESS CONTROL POLICY"]


def test_pdf_hidden_text_flagged():
    doc = parse_pdf(specimens.hidden_text_pdf())
    hidden = {doc.text[h.start:h.end]: h.reason for h in doc.hidden}
    assert hidden == {"White text says the policy is approved by everyone.": "pdf-white-text",
                      "Tiny text grants an exception to every control.": "pdf-tiny-text",
                      "Off-page text waives the audit.": "pdf-off-page"}
    assert "Passwords are at least fourteen characters long." in doc.text


def test_docx_structure_cells_hidden():
    doc = parse_docx(specimens.policy_docx(2, hidden=True))
    assert doc.sections[1].heading_path == ["Specimen Access Control Policy", "1. Section 1"]
    assert {(c.row, c.col, doc.text[c.start:c.end]) for c in doc.cells} >= {(0, 0, "Role"), (1, 1, "Security lead")}
    reasons = {doc.text[h.start:h.end]: h.reason for h in doc.hidden}
    assert reasons == {"Hidden run grants every exception.": "docx-hidden-run",
                       "White text approves all vendors.": "docx-white-text",
                       "Tiny text disables logging.": "docx-tiny-text"}
    visible = doc.text[: doc.hidden[0].start]
    assert "Visible sentence before." in visible
    assert doc.pages == 3  # two page breaks


def test_docx_sample():
    doc = parse_docx((SAMPLES / "business-continuity-plan.docx").read_bytes())
    assert any(p[-1] == "5.3 Restore testing" for p in (s.heading_path for s in doc.sections))
    assert doc.cells and doc.tables


@pytest.mark.parametrize("name", ["policy.md", "policy.txt", "policy.pdf", "policy.docx"])
def test_type_by_content_not_name(name, settings):
    pdf = specimens.text_pdf(specimens.policy_pages(1))
    docx = specimens.policy_docx(1)
    assert parse_bytes(pdf, name, settings).media_type == detect.PDF
    assert parse_bytes(docx, name, settings).media_type == detect.DOCX
    assert parse_bytes(b"<!doctype html><h1>T</h1><p>Body text.</p>", name, settings).media_type == detect.HTML
    assert parse_bytes(b"# Title\n\nBody text.\n", name, settings).media_type == detect.MARKDOWN


def test_text_encodings(settings):
    utf16 = "Politique d'accès\n\nLes accès sont revus chaque trimestre.\n".encode("utf-16")
    assert "accès" in parse_bytes(utf16, "p.txt", settings).text
    assert "é" in parse_bytes("Caf\u00e9 policy text.".encode("cp1252"), "p.txt", settings).text


def test_offsets_are_exact_slices_for_every_format(settings):
    for data in (MARKDOWN.encode(), specimens.text_pdf(specimens.policy_pages(2)), specimens.policy_docx(2)):
        doc = parse_bytes(data, "x", settings)
        assert doc.sections[0].start == 0 and doc.sections[-1].end == len(doc.text)
        for a, b in zip(doc.sections, doc.sections[1:]):
            assert a.end == b.start
        _slices_ok(doc)


def test_inline_hidden_html_and_markdown_spans_are_flagged():
    doc = parse_html("<p>Keep this <span hidden>SECRET ONE</span> and this.</p>"
                     "<table><tr><td>a</td><td><span style='display:none'>SECRET TWO</span>b</td></tr></table>")
    assert "Keep this and this." in doc.text
    assert [doc.text[h.start:h.end] for h in doc.hidden] == ["SECRET ONE", "SECRET TWO"]
    assert [doc.text[c.start:c.end] for c in doc.cells] == ["a", "b"]
    md = parse_markdown("# T\n\nVisible <span style=\"display:none\">MD SECRET</span> tail text.\n")
    assert "Visible tail text." in md.text and [md.text[h.start:h.end] for h in md.hidden] == ["MD SECRET"]


def test_pdf_running_headers_and_footers_are_left_out():
    pages = [[("Example Co - Confidential", 8)] + page + [(f"Page {n + 1} of 4", 8)]
             for n, page in enumerate(specimens.policy_pages(4))]
    doc = parse_pdf(specimens.text_pdf(pages))
    assert "Confidential" not in doc.text and "Page 2 of 4" not in doc.text
    assert any("running header/footer" in w for w in doc.warnings)
    assert [s.heading_path[-1] for s in doc.sections if s.heading_path][0] == "1. Section 1 controls"
