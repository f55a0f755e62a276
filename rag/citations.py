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
from rag.instructions import citation_flags
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
                    page=passage.page, flags=citation_flags([], passage.flags, text[start:end]))


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


# The quote policy for quotes from elsewhere (a model): a whole sentence of the passage (of at least
# SENTENCE_MIN_WORDS words), or at least QUOTE_MIN_WORDS consecutive words; never more than QUOTE_MAX_WORDS.
# The judge prompt (prompts/judge-system.md) states the same numbers.
QUOTE_MIN_WORDS, QUOTE_MAX_WORDS, SENTENCE_MIN_WORDS = 8, 60, 3


def quote_policy_ok(span: tuple[int, int], passage: Passage, text: str) -> bool:
    """Whether the located span is long enough to be evidence and short enough to be a quote."""
    from rag.ingest.chunk import sentence_spans

    words = len(text[span[0]:span[1]].split())
    if words > QUOTE_MAX_WORDS:
        return False
    if words >= QUOTE_MIN_WORDS:
        return True
    return words >= SENTENCE_MIN_WORDS and span in sentence_spans(text, passage.start, passage.end)


def quote_citation(quote: str, passage: Passage, text: str, document_name: str | None = None, *,
                   policy: bool = False) -> Citation | None:
    """A verified citation for a quote claimed to be in the passage, or None if it is not there. With
    `policy` (a model's quotes), also None when it breaks the quote policy (a fragment such as "Executiv",
    or a whole passage pasted as one quote)."""
    span = locate(quote, passage)
    if span is None or passage.hidden or placeholders.has(text[span[0]:span[1]]) \
            or (policy and not quote_policy_ok(span, passage, text)):
        return None
    return cite(passage, text, span[0], span[1], document_name)


# --- choosing what to quote -----------------------------------------------------------------------------


QUOTED_SENTENCE_WORDS = 5  # words (letters or digits) a sentence needs to be quoted while longer ones exist


def _quotable(passage: Passage, text: str, body_first: bool) -> tuple[list[tuple[int, int]], set[tuple[int, int]]]:
    """The spans a quote may be: the passage's sentences, a sentence holding a placeholder giving the pieces
    around it instead (those pieces, which stop mid-sentence, are returned apart). Sentences of at least
    `QUOTED_SENTENCE_WORDS` words other than the passage's headings, when there are any and `body_first` (a
    heading, a label or a "Category: ..." line says little on its own); else any of at least four
    whitespace-separated words; else the passage itself."""
    from rag.ingest.chunk import sentence_spans

    spans, pieces = [], set()
    for sentence in sentence_spans(text, passage.start, passage.end):
        cut = placeholders.clean_spans(text, [sentence])
        spans += cut
        if placeholders.has(text[sentence[0]:sentence[1]]):
            pieces.update(cut)
    if body_first:
        headings = {_words(h) for h in passage.heading_path}
        long = [s for s in spans if len(words := _words(text[s[0]:s[1]])) >= QUOTED_SENTENCE_WORDS
                and words not in headings]
        if long:
            return long, pieces
    spans = [s for s in spans if len(text[s[0]:s[1]].split()) >= 4]
    return spans or placeholders.clean_spans(text, [(passage.start, passage.end)]), pieces if body_first else set()


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower()))


def best_span(passage: Passage, text: str, terms: set[str], max_chars: int = 420, body_first: bool = True
              ) -> tuple[int, int] | None:
    """The sentence (or two adjacent ones) of the passage that shares the most terms with the clause query.
    Headings alone are never chosen when the passage has a body; placeholders are cut out of the sentences
    (None when nothing else is left), and a piece cut that way, which stops mid-sentence, counts half as much
    as a whole sentence. `body_first=False` (where a judge's excerpt is centred): any sentence of four words or
    more, headings and pieces alike."""
    spans, pieces = _quotable(passage, text, body_first)
    if not spans:
        return None

    def score(span: tuple[int, int]) -> float:
        words = _WORD.findall(text[span[0]:span[1]].lower())
        if not words:
            return 0.0
        hits = sum(1 for w in set(words) if w in terms or w[:6] in terms)
        table_row = " | " in text[span[0]:span[1]]  # table cells read badly out of context
        return hits / (len(set(words)) ** 0.5) * (0.5 if table_row else 1.0) * (0.5 if span in pieces else 1.0)

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
