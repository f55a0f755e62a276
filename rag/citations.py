"""The one place a Citation is made and checked.

A citation is a span of a stored document version's canonical text: `quote == text[start:end]`. Quotes that
come from elsewhere (a language model, a reviewer's edit) are located in the passage, exactly after
whitespace normalization, and mapped back to offsets; anything that cannot be located is not a citation.
Hidden text (a reader cannot see it) and unrendered template placeholders (rag/placeholders.py) are never cited.
"""

from __future__ import annotations

import re

from rag import placeholders
from rag.errors import CitationError
from rag.models import Citation, Passage

_WS = re.compile(r"\s+")
_WORD = re.compile(r"[a-z0-9]+")


def cite(passage: Passage, text: str, start: int, end: int, document_name: str | None = None) -> Citation:
    """A citation for text[start:end], which must lie inside a visible passage of that text."""
    if passage.hidden:
        raise CitationError("hidden text cannot be cited", target=passage.id)
    if placeholders.has(text[start:end]):
        raise CitationError("an unrendered template placeholder is not policy text", target=passage.id)
    if not (passage.start <= start < end <= passage.end):
        raise CitationError(f"span {start}-{end} lies outside passage {passage.start}-{passage.end}",
                            target=passage.id)
    return Citation(passage_id=passage.id, document_sha256=passage.document_sha256, start=start, end=end,
                    quote=text[start:end], document_name=document_name, heading_path=passage.heading_path,
                    page=passage.page)


def verify(citation: Citation, texts: dict[str, str]) -> bool:
    """True when the quote is exactly the cited span of the stored text."""
    text = texts.get(citation.document_sha256)
    return text is not None and 0 <= citation.start < citation.end <= len(text) \
        and text[citation.start:citation.end] == citation.quote


def check(citation: Citation, texts: dict[str, str]) -> Citation:
    if not verify(citation, texts):
        raise CitationError("quote does not match the stored document text at its offsets",
                            target=f"{citation.document_sha256[:12]}:{citation.start}-{citation.end}")
    return citation


def _normalized(text: str) -> tuple[str, list[int]]:
    """Text with whitespace runs collapsed to one space, and the original offset of each character."""
    out, offsets = [], []
    last_space = False
    for i, ch in enumerate(text):
        if ch.isspace():
            if not last_space:
                out.append(" ")
                offsets.append(i)
            last_space = True
        else:
            out.append(ch)
            offsets.append(i)
            last_space = False
    return "".join(out), offsets


def locate(quote: str, passage: Passage) -> tuple[int, int] | None:
    """Offsets (in the version text) of `quote` inside the passage, matching after whitespace normalization."""
    needle = _WS.sub(" ", quote).strip()
    if len(needle) < 8:
        return None
    haystack, offsets = _normalized(passage.text)
    at = haystack.find(needle)
    if at < 0:
        return None
    start = passage.start + offsets[at]
    end = passage.start + offsets[at + len(needle) - 1] + 1
    return start, end


def quote_citation(quote: str, passage: Passage, text: str, document_name: str | None = None) -> Citation | None:
    """A verified citation for a quote claimed to be in the passage, or None if it is not there."""
    span = locate(quote, passage)
    if span is None or passage.hidden or placeholders.has(text[span[0]:span[1]]):
        return None
    return cite(passage, text, span[0], span[1], document_name)


# --- choosing what to quote -----------------------------------------------------------------------------


def best_span(passage: Passage, text: str, terms: set[str], max_chars: int = 420) -> tuple[int, int] | None:
    """The sentence (or two adjacent ones) of the passage that shares the most terms with the clause query.
    Headings alone are never chosen when the passage has a body; placeholders are cut out of the sentences
    (None when nothing else is left)."""
    from rag.ingest.chunk import sentence_spans

    spans = placeholders.clean_spans(text, sentence_spans(text, passage.start, passage.end))
    spans = [s for s in spans if len(text[s[0]:s[1]].split()) >= 4]
    spans = spans or placeholders.clean_spans(text, [(passage.start, passage.end)])
    if not spans:
        return None

    def score(span: tuple[int, int]) -> float:
        words = _WORD.findall(text[span[0]:span[1]].lower())
        if not words:
            return 0.0
        hits = sum(1 for w in set(words) if w in terms or w[:6] in terms)
        table_row = " | " in text[span[0]:span[1]]  # table cells read badly out of context
        return hits / (len(set(words)) ** 0.5) * (0.5 if table_row else 1.0)

    best = max(range(len(spans)), key=lambda i: score(spans[i]))
    start, end = spans[best]
    if best + 1 < len(spans) and spans[best + 1][1] - start <= max_chars and end - start < 160 \
            and not placeholders.has(text[start:spans[best + 1][1]]):
        end = spans[best + 1][1]
    if end - start > max_chars:
        cut = text.rfind(" ", start, start + max_chars)
        end = cut if cut > start + 40 else start + max_chars
    return start, end


def query_terms(query: str) -> set[str]:
    words = {w for w in _WORD.findall(query.lower()) if len(w) > 3}
    return words | {w[:6] for w in words}
