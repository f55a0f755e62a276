"""Heading-aware chunking. A passage never straddles two headings, except that sections too small to stand
alone (a heading with a line under it) are merged into the visible section that follows. Long sections are
split at sentence boundaries with a token overlap; a single sentence longer than the passage size is split
at word boundaries. Hidden text is never mixed into a visible passage. Passage spans depend only on the
canonical text and the size settings, so the same bytes always give the same passages (and ids). Each passage
carries the flags of rag.instructions (text addressed to a reviewer or a model), in every mode."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from rag.embeddings import encoding
from rag.ingest.document import ParsedDocument
from rag.instructions import flags_for
from rag.models import Passage

# A sentence ends at end punctuation before a capital, at a blank line, or where a line starts a list item or
# follows a line that ended a sentence; a soft line break inside a paragraph does not end it.
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=[\"'(\[A-Z0-9])|\n[ \t]*\n\s*|\n(?=[ \t]*(?:[-*+\u2022]|\d+[.)])\s)"
                           r"|(?<=[.!?;:|])\n")
_WORD = re.compile(r"\S+")


@dataclass
class _Unit:
    start: int
    end: int
    tokens: int
    hidden: bool


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence (or line) spans of text[start:end], trimmed of surrounding whitespace."""
    spans, pos = [], start
    for m in _SENTENCE_END.finditer(text, start, end):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, end))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


class _Hidden:
    """Does a span overlap hidden text? Binary search over the sorted hidden spans."""

    def __init__(self, doc: ParsedDocument) -> None:
        spans = sorted((h.start, h.end) for h in doc.hidden)
        self.starts = [s for s, _ in spans]
        self.ends = [e for _, e in spans]
        self.max_end = []
        top = -1
        for e in self.ends:
            top = max(top, e)
            self.max_end.append(top)

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self.starts, end)  # spans starting before `end`
        return i > 0 and self.max_end[i - 1] > start


def _split_long(text: str, start: int, end: int, tokens: int, size: int) -> list[tuple[int, int]]:
    """A sentence of more than `size` tokens, cut at word boundaries into pieces of about `size` tokens."""
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
    per_piece = max(1, int(len(words) * size / max(tokens, 1)))
    return [(words[i][0], words[min(i + per_piece, len(words)) - 1][1]) for i in range(0, len(words), per_piece)]


def _units(doc: ParsedDocument, size: int) -> list[list[_Unit]]:
    """Per section, its sentence units with token counts."""
    spans = [sentence_spans(doc.text, sec.start, sec.end) for sec in doc.sections]
    flat = [span for section in spans for span in section]
    encode = encoding().encode_ordinary  # a plain loop: the batch API's thread pool costs more than it saves
    counts = [len(encode(doc.text[s:e])) for s, e in flat]
    hidden = _Hidden(doc)
    out, k = [], 0
    for section in spans:
        units = []
        for s, e in section:
            n = counts[k]
            k += 1
            pieces = _split_long(doc.text, s, e, n, size) if n > size else [(s, e)]
            per = n // len(pieces) if len(pieces) > 1 else n
            units.extend(_Unit(ps, pe, per, hidden.overlaps(ps, pe)) for ps, pe in pieces)
        out.append(units)
    return out


def _pack(units: list[_Unit], size: int, overlap: int) -> list[list[_Unit]]:
    """Greedy packing of consecutive units into groups of about `size` tokens, each new group starting with
    up to `overlap` tokens of the previous one; hidden and visible units never share a group."""
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    tokens = 0
    for unit in units:
        switch = current and current[-1].hidden != unit.hidden
        if current and (switch or tokens + unit.tokens > size):
            groups.append(current)
            carry: list[_Unit] = []
            if not switch:
                for prev in reversed(current):
                    if sum(u.tokens for u in carry) + prev.tokens > overlap or len(carry) + 1 >= len(current):
                        break
                    carry.insert(0, prev)
            current, tokens = carry, sum(u.tokens for u in carry)
        current.append(unit)
        tokens += unit.tokens
    if current:
        groups.append(current)
    return groups


def chunk(doc: ParsedDocument, document_sha256: str, size: int = 180, overlap: int = 30,
          min_section_tokens: int = 12) -> list[Passage]:
    passages: list[Passage] = []
    pending: int | None = None  # start of tiny visible sections waiting to merge into the next one
    sections = doc.sections
    for i, (section, units) in enumerate(zip(sections, _units(doc, size))):
        if not units:
            continue
        total = sum(u.tokens for u in units)
        tiny = total < min_section_tokens and i < len(sections) - 1 and not any(u.hidden for u in units)
        if tiny:
            pending = section.start if pending is None else pending
            continue
        if pending is not None:
            if units[0].hidden:  # never merge visible text into a hidden unit: emit it on its own
                _emit(passages, doc, document_sha256, [[_Unit(pending, section.start, 0, False)]],
                      sections[i - 1].heading_path)
            else:
                units[0] = _Unit(pending, units[0].end, units[0].tokens, False)
            pending = None
        _emit(passages, doc, document_sha256, _pack(units, size, overlap), section.heading_path, section.page)
    if pending is not None:
        _emit(passages, doc, document_sha256, [[_Unit(pending, sections[-1].end, 0, False)]],
              sections[-1].heading_path)
    return passages


def _emit(passages: list[Passage], doc: ParsedDocument, sha: str, groups: list[list[_Unit]],
          heading_path: list[str], page: int | None = None) -> None:
    for group in groups:
        s, e = group[0].start, group[-1].end
        while e > s and doc.text[e - 1].isspace():
            e -= 1
        if e <= s:
            continue
        passages.append(Passage(id=Passage.make_id(sha, s, e), document_sha256=sha, seq=len(passages), start=s,
                                end=e, text=doc.text[s:e], heading_path=heading_path,
                                page=doc.page_at(s) if doc.page_starts else page, hidden=group[0].hidden,
                                flags=flags_for(doc.text[s:e])))
