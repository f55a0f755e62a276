"""Citations are verbatim spans, made and checked in one place."""

import pytest

from rag import citations as cites
from rag.errors import CitationError
from rag.models import Citation, Passage

TEXT = ("Purpose\n\nAccess to production requires   multi-factor\nauthentication. Access reviews happen every "
        "quarter for all systems.")


def passage(hidden=False):
    start = TEXT.index("Access")
    return Passage(id="p1", document_sha256="sha", seq=0, start=start, end=len(TEXT), text=TEXT[start:],
                   heading_path=["Purpose"], hidden=hidden)


def test_cite_and_verify():
    p = passage()
    c = cites.cite(p, TEXT, p.start, p.start + 6, "doc.md")
    assert c.quote == "Access" and cites.verify(c, {"sha": TEXT})
    tampered = c.model_copy(update={"quote": "Accent"})
    assert not cites.verify(tampered, {"sha": TEXT})
    assert not cites.verify(c, {"other": TEXT})
    with pytest.raises(CitationError):
        cites.check(tampered, {"sha": TEXT})


def test_offsets_must_match_quote_length():
    with pytest.raises(ValueError):
        Citation(passage_id="p", document_sha256="s", start=0, end=3, quote="four")


def test_span_outside_passage_or_hidden_is_refused():
    p = passage()
    with pytest.raises(CitationError, match="outside"):
        cites.cite(p, TEXT, 0, 5)
    with pytest.raises(CitationError, match="hidden"):
        cites.cite(passage(hidden=True), TEXT, p.start, p.start + 6)


def test_quote_located_after_whitespace_normalization():
    p = passage()
    c = cites.quote_citation("requires multi-factor authentication.", p, TEXT)
    assert c is not None and TEXT[c.start:c.end] == c.quote
    assert c.quote == "requires   multi-factor\nauthentication."
    assert cites.quote_citation("requires two-factor authentication.", p, TEXT) is None
    assert cites.quote_citation("short", p, TEXT) is None
    assert cites.quote_citation("requires multi-factor authentication.", passage(hidden=True), TEXT) is None


def test_best_span_picks_the_matching_sentence():
    p = passage()
    start, end = cites.best_span(p, TEXT, cites.query_terms("quarterly access reviews"))
    assert TEXT[start:end] == "Access reviews happen every quarter for all systems."


def _whole(text: str, heading: str) -> Passage:
    return Passage(id="p2", document_sha256="sha", seq=0, start=0, end=len(text), text=text, heading_path=[heading])


def test_a_heading_or_a_label_is_not_quoted_when_the_passage_has_a_body():
    heading = "4.2 Periodic Access Reviews of User Accounts"
    text = (f"{heading}\n\nCategory: Access reviews\n\nManagers confirm each quarter that every account on their "
            "systems is still needed, and remove the rest.")
    start, end = cites.best_span(_whole(text, heading), text, cites.query_terms("periodic access reviews of accounts"))
    assert text[start:end].startswith("Managers confirm each quarter")


def test_a_passage_of_short_lines_only_is_still_quoted():
    text = "Access Reviews\n\nCategory: Identity and access management"
    span = cites.best_span(_whole(text, "Access Reviews"), text, cites.query_terms("access reviews"))
    assert span is not None and text[span[0]:span[1]]


def test_a_whole_sentence_is_preferred_to_one_cut_at_a_template_placeholder():
    text = ("Backups of production databases run nightly to {{BACKUP_REGION}}. "
            "Restores of production backups are tested every quarter by the operations team.")
    terms = cites.query_terms("production database backups restores")
    start, end = cites.best_span(_whole(text, "Backups"), text, terms)
    assert text[start:end] == "Restores of production backups are tested every quarter by the operations team."
