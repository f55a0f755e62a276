"""PDF to canonical text with pypdfium2 (PDFium): pages, paragraphs, headings and hidden text.

PDFium gives every character's font, size, matrix, colour and box. Lines come from PDFium's own reading order;
paragraphs break at vertical gaps, headings are lines set larger than the body text (or bold, short and on
their own), and when a document has no typographic variation at all the plain-text heading heuristic is used.
Text a reader cannot see (white or transparent fill, under 1 pt, outside the visible page) stays in the
canonical text but is recorded as hidden, so it can never be cited. Checking every character costs time, so a
page is checked character by character only when its text objects show something suspicious.
"""

from __future__ import annotations

import ctypes
import math
import re
from collections import Counter
from dataclasses import dataclass, field

from rag.errors import CorruptFile, EncryptedFile, NeedsOCR
from rag.ingest.document import ParsedDocument, TextBuilder
from rag.ingest.markdown import _looks_like_heading

_BULLET = re.compile(r"^\s*([\u2022\u25aa\u25cf\u2013\-*]|\d+[.)]|[a-z][.)])\s+")
_WHITE = 245


@dataclass
class _Line:
    text: str
    page: int
    size: float
    bold: bool
    top: float
    bottom: float
    hidden: list[tuple[int, int, str]] = field(default_factory=list)  # spans within `text`
    gap_before: bool = True


def _check_bytes(data: bytes) -> None:
    """A PDF that lost its end (an interrupted download) would otherwise be silently half-read by recovery."""
    tail = data[-2048:]
    if b"%%EOF" not in tail or b"startxref" not in data[-65536:]:
        raise CorruptFile("the PDF is truncated or damaged (no end-of-file marker): upload the complete file")


def _open(data: bytes):
    import pypdfium2 as pdfium

    _check_bytes(data)
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        message = str(exc).lower()
        if "password" in message or "security" in message:
            raise EncryptedFile("the PDF is encrypted: remove the password and upload it again") from exc
        raise CorruptFile(f"not a readable PDF ({exc})") from exc


# --- per-character attributes ---------------------------------------------------------------------------


class _Chars:
    """Thin wrapper over PDFium's per-character calls for one text page."""

    def __init__(self, textpage, bbox: tuple[float, float, float, float]) -> None:
        import pypdfium2.raw as raw

        self.raw, self.tp, self.bbox = raw, textpage.raw, bbox
        self._rgba = [ctypes.c_uint() for _ in range(4)]
        self._matrix = raw.FS_MATRIX()
        self._rect = raw.FS_RECTF()
        self._name = ctypes.create_string_buffer(96)
        self._flags = ctypes.c_int()

    def size(self, i: int) -> float:
        """Effective size in points: the font size scaled by the character's matrix."""
        size = self.raw.FPDFText_GetFontSize(self.tp, i)
        if self.raw.FPDFText_GetMatrix(self.tp, i, self._matrix):
            m = self._matrix
            size *= math.hypot(m.c, m.d) or 1.0
        return round(size, 1)

    def bold(self, i: int) -> bool:
        self.raw.FPDFText_GetFontInfo(self.tp, i, self._name, len(self._name), self._flags)
        name = self._name.value.decode("latin-1", "replace").lower()
        return (any(w in name for w in ("bold", "black", "heavy", "semibold", "demi"))
                or bool(self._flags.value & (1 << 18)) or self.raw.FPDFText_GetFontWeight(self.tp, i) >= 600)

    def box(self, i: int) -> tuple[float, float, float, float]:
        self.raw.FPDFText_GetLooseCharBox(self.tp, i, self._rect)
        r = self._rect
        return r.left, r.bottom, r.right, r.top

    def style_hidden(self, i: int) -> str | None:
        r, g, b, a = self._rgba
        if self.raw.FPDFText_GetFillColor(self.tp, i, r, g, b, a):
            if a.value == 0:
                return "pdf-transparent-text"
            if min(r.value, g.value, b.value) >= _WHITE:
                return "pdf-white-text"
        if 0 < self.size(i) < 1:
            return "pdf-tiny-text"
        return None

    def off_page(self, i: int) -> str | None:
        left, bottom, right, top = self.box(i)
        x, y = (left + right) / 2, (bottom + top) / 2
        x0, y0, x1, y1 = self.bbox
        return None if x0 <= x <= x1 and y0 <= y <= y1 else "pdf-off-page"


def _page_suspicious(page, bbox) -> bool:
    """True when any text object is white, transparent, under 1 pt, off the page, or inside a form XObject."""
    import pypdfium2.raw as raw

    rgba = [ctypes.c_uint() for _ in range(4)]
    size = ctypes.c_float()
    x0, y0, x1, y1 = bbox
    for obj in page.get_objects(filter=None, max_depth=8):
        if obj.type == raw.FPDF_PAGEOBJ_FORM:
            continue
        if obj.type != raw.FPDF_PAGEOBJ_TEXT:
            continue
        if obj.level > 0:
            return True
        if raw.FPDFPageObj_GetFillColor(obj.raw, *rgba) and (
                rgba[3].value == 0 or min(v.value for v in rgba[:3]) >= _WHITE):
            return True
        if raw.FPDFTextObj_GetFontSize(obj.raw, size):
            m = obj.get_matrix()
            if size.value * (math.hypot(m.c, m.d) or 1.0) < 1:
                return True
        left, bottom, right, top = obj.get_bounds()
        if right < x0 or left > x1 or top < y0 or bottom > y1 or (left + right) / 2 > x1 or (top + bottom) / 2 < y0:
            return True
    return False


# --- lines --------------------------------------------------------------------------------------------


def _page_lines(page, number: int) -> list[_Line]:
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        if count <= 0:
            return []
        text = textpage.get_text_range(0, count)
        bbox = tuple(page.get_bbox())
        chars = _Chars(textpage, bbox)
        check = _page_suspicious(page, bbox)
        lines, pos = [], 0
        for raw_line in text.split("\r\n"):
            line = _line(chars, raw_line, pos, number, check)
            pos += len(raw_line) + 2
            if line is not None:
                lines.append(line)
        return lines
    finally:
        textpage.close()


def _line(chars: _Chars, text: str, start: int, page: int, check: bool) -> _Line | None:
    stripped = text.strip()
    if not stripped:
        return None
    words = [k for k, ch in enumerate(text) if ch.isalnum()] or [len(text) - len(text.lstrip())]
    # three samples: a list number or bullet is often set in another font or size than the line itself
    first, mid, last = (start + words[0], start + words[len(words) // 2], start + words[-1])
    _, bottom, _, top = chars.box(mid)
    size = sorted(chars.size(i) for i in (first, mid, last))[1]
    line = _Line(text=text, page=page, size=size, bold=chars.bold(mid) and chars.bold(last), top=top,
                 bottom=bottom)
    if check:
        line.hidden = _hidden_runs(chars, text, start)
    return line


def _hidden_runs(chars: _Chars, text: str, start: int) -> list[tuple[int, int, str]]:
    """Hidden spans of a line. Characters drawn by one text object share its colour and size, so each run of
    characters from one object is checked once, at its first character (its box is checked for each)."""
    runs: list[tuple[int, int, str]] = []
    obj, state = None, None
    for k, ch in enumerate(text):
        if ch.isspace():
            continue
        owner = chars.raw.FPDFText_GetTextObject(chars.tp, start + k)
        owner = ctypes.cast(owner, ctypes.c_void_p).value if owner else None
        if owner is None or owner != obj:
            obj, state = owner, chars.style_hidden(start + k)
        reason = state or chars.off_page(start + k)
        if reason is None:
            continue
        if runs and runs[-1][2] == reason and not text[runs[-1][1]:k].strip():
            runs[-1] = (runs[-1][0], k + 1, reason)
        else:
            runs.append((k, k + 1, reason))
    return runs


# --- headings and paragraphs -----------------------------------------------------------------------------


def _levels(lines: list[_Line]) -> tuple[float, dict[float, int], bool]:
    """Body size (most characters), heading level per larger size, and whether bold marks headings."""
    weights: Counter = Counter()
    for line in lines:
        weights[line.size] += len(line.text)
    if not weights:
        return 0.0, {}, False
    body = weights.most_common(1)[0][0]
    larger = sorted((s for s in weights if s >= body * 1.12 and s - body >= 1), reverse=True)[:5]
    return body, {s: i + 1 for i, s in enumerate(larger)}, any(line.bold for line in lines)


def _heading_level(line: _Line, body: float, levels: dict[float, int], bold_headings: bool) -> int | None:
    text = line.text.strip()
    words = text.split()
    if len(words) > 16 or len(text) > 120 or (text.endswith((".", ",", ";")) and not re.match(r"^\d+\.$", text)):
        return None
    if line.size in levels:
        return levels[line.size]
    if bold_headings and line.bold and line.gap_before and len(words) <= 12 and abs(line.size - body) < 0.6:
        return len(levels) + 1
    return None


def _mark_gaps(lines: list[_Line]) -> None:
    for prev, line in zip(lines, lines[1:]):
        height = max(prev.top - prev.bottom, line.top - line.bottom, 1.0)
        gap = prev.bottom - line.top
        line.gap_before = (line.page != prev.page or gap > 0.35 * height or gap < -3 * height
                           or abs(line.size - prev.size) >= 1 or prev.bold != line.bold)


def _emit(doc: TextBuilder, lines: list[_Line], body: float, levels: dict[float, int], bold: bool,
          plain: bool) -> None:
    para: list[str] = []
    hidden: list[tuple[str, str]] = []
    heading: tuple[int, list[str]] | None = None

    def flush() -> None:
        nonlocal heading
        if heading:
            doc.heading(heading[0], " ".join(heading[1]))
            heading = None
        if para:
            doc.block(" ".join(para))
            para.clear()
        for text, reason in hidden:
            doc.block(text, hidden_reason=reason)
        hidden.clear()

    for i, line in enumerate(lines):
        visible, secret = _split_hidden(line)
        if not visible.strip():
            hidden.extend(secret)
            continue
        if doc.page != line.page:
            flush()
            doc.page = line.page
        if plain:
            nxt = lines[i + 1] if i + 1 < len(lines) else None
            level = _looks_like_heading(visible.strip(), line.gap_before, nxt is None or nxt.gap_before)
        else:
            level = _heading_level(line, body, levels, bold)
        if level and heading and heading[0] == level and not line.gap_before:
            heading[1].append(visible.strip())  # a heading that wraps onto a second line
            continue
        if level or line.gap_before or _BULLET.match(visible):
            flush()
        if level:
            heading = (level, [visible.strip()])
        else:
            if heading:
                flush()
            para.append(visible.strip())
        hidden.extend(secret)
    flush()


def _split_hidden(line: _Line) -> tuple[str, list[tuple[str, str]]]:
    if not line.hidden:
        return line.text, []
    visible, secret, pos = [], [], 0
    for s, e, reason in line.hidden:
        visible.append(line.text[pos:s])
        secret.append((line.text[s:e], reason))
        pos = e
    visible.append(line.text[pos:])
    return re.sub(r"\s+", " ", "".join(visible)), secret


_PAGE_NUMBER = re.compile(r"\bpage\s+\d+|^\s*-?\s*\d+\s*-?\s*$|\b\d+\s*(of|/)\s*\d+\s*$", re.I)


def _running_key(text: str) -> str:
    """The same text, or the same text around a page number ("Page 3 of 9")."""
    text = text.strip().lower()
    return re.sub(r"\d+", "#", text) if _PAGE_NUMBER.search(text) else text


def _drop_running_lines(lines: list[_Line]) -> tuple[list[_Line], list[str]]:
    """Headers and footers (the same line, or the same line around a page number, among the first or last
    two lines of at least three pages and of half of them) are page furniture: left out so they do not split paragraphs or pose as headings."""
    by_page: dict[int, list[int]] = {}
    for i, line in enumerate(lines):
        by_page.setdefault(line.page, []).append(i)
    edges: dict[str, set[int]] = {}
    for page, idx in by_page.items():
        for i in set(idx[:2] + idx[-2:]):
            edges.setdefault(_running_key(lines[i].text), set()).add(page)
    running = {k for k, pages in edges.items() if len(pages) >= max(3, len(by_page) / 2)}
    if not running:
        return lines, []
    keep, dropped = [], {}
    for page, idx in by_page.items():
        edge = set(idx[:2] + idx[-2:])
        for i in idx:
            key = _running_key(lines[i].text)
            if i in edge and key in running:
                dropped.setdefault(key, lines[i].text.strip())
            else:
                keep.append(lines[i])
    return keep, list(dropped.values())


def _page(pdf, number: int):
    import pypdfium2 as pdfium

    try:
        return pdf[number]
    except pdfium.PdfiumError as exc:
        raise CorruptFile(f"page {number + 1} cannot be read: the page tree or cross-reference table is "
                          f"damaged ({exc})") from exc


def parse_pdf(data: bytes) -> ParsedDocument:
    pdf = _open(data)
    try:
        pages = len(pdf)
        lines: list[_Line] = []
        empty_pages = []
        for number in range(pages):
            page = _page(pdf, number)
            try:
                got = _page_lines(page, number + 1)
            finally:
                page.close()
            if not got:
                empty_pages.append(number + 1)
            lines.extend(got)
        title = (pdf.get_metadata_dict().get("Title") or "").strip()
        title = None if title.lower() in ("", "untitled", "untitled document") else title
    finally:
        pdf.close()
    if not any(line.text.strip() for line in lines):
        raise NeedsOCR(f"the PDF has {pages} page(s) but no text layer (scanned?): run OCR first")
    lines, furniture = _drop_running_lines(lines)
    _mark_gaps(lines)
    body, levels, bold = _levels(lines)
    doc = TextBuilder()
    _emit(doc, lines, body, levels, bold, plain=not levels and not bold)
    warnings = [f"pages without text (scanned?): {_ranges(empty_pages)}"] if empty_pages else []
    warnings += [f"running header/footer left out of the text: {line!r}" for line in furniture]
    return doc.build("application/pdf", "pypdfium2", title=title, pages=pages, warnings=warnings)


def _ranges(numbers: list[int]) -> str:
    out, start = [], None
    for i, n in enumerate(numbers):
        start = n if start is None else start
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            out.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ", ".join(out)
