"""Heading-aware chunking. A passage never straddles two headings, except that sections too small to stand
alone (a heading with a line under it) are merged into the section that follows. Long sections are split at
sentence boundaries with a token overlap. Hidden text is never mixed into a visible passage."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.embeddings import encoding
from rag.ingest.document import ParsedDocument
from rag.models import Passage

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=[\"'(\[A-Z0-9])|\n+")


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


def _units(doc: ParsedDocument, start: int, end: int) -> list[_Unit]:
    spans = sentence_spans(doc.text, start, end)
    counts = [len(t) for t in encoding().encode_ordinary_batch([doc.text[s:e] for s, e in spans])]
    return [_Unit(s, e, n, any(h.start < e and s < h.end for h in doc.hidden)) for (s, e), n in zip(spans, counts)]


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
    pending_start: int | None = None  # start of tiny sections waiting to merge into the next one
    sections = doc.sections
    for i, section in enumerate(sections):
        units = _units(doc, section.start, section.end)
        if not units:
            continue
        start = pending_start if pending_start is not None else section.start
        total = sum(u.tokens for u in units)
        is_last = i == len(sections) - 1
        if total < min_section_tokens and not is_last and not any(u.hidden for u in units):
            pending_start = start
            continue
        if pending_start is not None:
            units[0] = _Unit(pending_start, units[0].end, units[0].tokens, units[0].hidden)
            pending_start = None
        for group in _pack(units, size, overlap):
            s, e = group[0].start, group[-1].end
            passages.append(Passage(
                id=Passage.make_id(document_sha256, s, e), document_sha256=document_sha256,
                seq=len(passages), start=s, end=e, text=doc.text[s:e], heading_path=section.heading_path,
                page=doc.page_at(s) if doc.page_starts else section.page, hidden=group[0].hidden))
    return passages
