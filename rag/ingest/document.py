"""What every parser returns: one canonical text per document version plus its structure.

Parsers build the text through `TextBuilder`, which records headings, pages, tables and hidden text as
character offsets into the canonical text, so every later citation is a plain slice of it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from rag.models import HiddenSpan, Section

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")


_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_line(text: str) -> str:
    """NFC, no control characters, single spaces: the form all canonical text takes."""
    if text.isascii():  # the common case, without a per-character Python loop
        text = _ASCII_CONTROL.sub("", text)
    else:
        text = unicodedata.normalize("NFC", text)
        text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return _SPACES.sub(" ", text).strip()


def hidden_groups(pieces: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """Consecutive hidden pieces of (text, reason or None) with the same reason, joined; blank ones dropped."""
    out: list[tuple[str, str]] = []
    for text, why in pieces:
        if why is None:
            continue
        if out and out[-1][1] == why:
            out[-1] = (out[-1][0] + text, why)
        else:
            out.append((text, why))
    return [(t, why) for t, why in out if t.strip()]


def mask_hidden(text: str, spans: list[dict]) -> str:
    """The text with each hidden span's characters replaced one for one (offsets still hold), for display."""
    if not spans:
        return text
    chars = list(text)
    for span in spans:
        start, end = max(0, span["start"]), min(len(chars), span["end"])
        chars[start:end] = ["\u2591"] * max(0, end - start)
    return "".join(chars)


@dataclass
class TableCell:
    start: int
    end: int
    row: int
    col: int
    table: int  # index into ParsedDocument.tables


@dataclass
class ParsedDocument:
    text: str
    sections: list[Section]
    media_type: str
    parser: str
    title: str | None = None
    hidden: list[HiddenSpan] = field(default_factory=list)
    tables: list[tuple[int, int]] = field(default_factory=list)
    pages: int | None = None
    warnings: list[str] = field(default_factory=list)
    page_starts: list[tuple[int, int]] = field(default_factory=list)  # (offset, page number)
    cells: list[TableCell] = field(default_factory=list)

    def page_at(self, offset: int) -> int | None:
        page = None
        for start, number in self.page_starts:
            if start > offset:
                break
            page = number
        return page


@dataclass
class _Heading:
    level: int
    title: str
    start: int
    page: int | None


class TextBuilder:
    """Append blocks (paragraphs, list items, table rows, headings); blocks are separated by a blank line."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._len = 0
        self._headings: list[_Heading] = []
        self.hidden: list[HiddenSpan] = []
        self.tables: list[tuple[int, int]] = []
        self.page: int | None = None
        self._table_start: int | None = None
        self.page_starts: list[tuple[int, int]] = []
        self.cells: list[TableCell] = []

    def _append(self, text: str) -> tuple[int, int]:
        if self._parts:
            self._parts.append("\n\n")
            self._len += 2
        start = self._len
        if self.page is not None and (not self.page_starts or self.page_starts[-1][1] != self.page):
            self.page_starts.append((start, self.page))
        self._parts.append(text)
        self._len += len(text)
        return start, self._len

    def heading(self, level: int, title: str) -> None:
        title = clean_line(title)
        if title:
            start, _ = self._append(title)
            self._headings.append(_Heading(level, title, start, self.page))

    def block(self, text: str, hidden_reason: str | None = None) -> tuple[int, int] | None:
        lines = [clean_line(line) for line in text.split("\n")]
        text = "\n".join(line for line in lines if line)
        if not text:
            return None
        span = self._append(text)
        if hidden_reason:
            self.hidden.append(HiddenSpan(start=span[0], end=span[1], reason=hidden_reason))
        return span

    def inline_hidden(self, block_start: int, offset: int, length: int, reason: str) -> None:
        """Mark part of the block that starts at `block_start` as hidden."""
        self.hidden.append(HiddenSpan(start=block_start + offset, end=block_start + offset + length, reason=reason))

    def row(self, cells: list[str], row: int) -> None:
        """One table row as a block of cells joined by " | "; each cell's span is recorded."""
        cells = [clean_line(c.replace("\n", " ")) for c in cells]
        if not any(cells):
            return
        start, _ = self._append(" | ".join(cells))
        for col, cell in enumerate(cells):
            self.cells.append(TableCell(start=start, end=start + len(cell), row=row, col=col,
                                        table=len(self.tables)))
            start += len(cell) + 3

    def table_start(self) -> None:
        self._table_start = self._len + (2 if self._parts else 0)

    def table_end(self) -> None:
        if self._table_start is not None and self._len > self._table_start:
            self.tables.append((self._table_start, self._len))
        self._table_start = None

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def sections(self) -> list[Section]:
        """Heading-delimited spans; text before the first heading forms a section with an empty path."""
        text_len = self._len
        out: list[Section] = []
        first = self._headings[0].start if self._headings else text_len
        if first > 0:
            out.append(Section(heading_path=[], level=0, start=0, end=first, page=None))
        stack: list[_Heading] = []
        for i, h in enumerate(self._headings):
            while stack and stack[-1].level >= h.level:
                stack.pop()
            stack.append(h)
            end = self._headings[i + 1].start if i + 1 < len(self._headings) else text_len
            out.append(Section(heading_path=[s.title for s in stack], level=h.level, start=h.start,
                               end=end, page=h.page))
        return out

    def build(self, media_type: str, parser: str, title: str | None = None, pages: int | None = None,
              warnings: list[str] | None = None) -> ParsedDocument:
        if title is None and self._headings:
            top = min(h.level for h in self._headings)
            title = next(h.title for h in self._headings if h.level == top)
        return ParsedDocument(text=self.text, sections=self.sections(), media_type=media_type, parser=parser,
                              title=title, hidden=self.hidden, tables=self.tables, pages=pages,
                              warnings=warnings or [], page_starts=self.page_starts, cells=self.cells)
