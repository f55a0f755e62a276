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
