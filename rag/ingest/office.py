"""DOCX to canonical text with python-docx: headings, paragraphs, list items, table cells and hidden text.

The package is checked first (zip bomb, DOCTYPE/entities: see safety.py). Headings come from heading styles
or outline levels; a document without any falls back to short, bold, stand-alone paragraphs. Runs are read
from the XML directly so tracked insertions and hyperlinks count and deleted text does not. Hidden runs
(the "vanish" property on the run or its styles), white text and text under 1 pt stay in the canonical text
in blocks of their own, flagged, so they can never be cited.
"""

from __future__ import annotations

import io

from docx.oxml.ns import qn

from rag.errors import CorruptFile
from rag.ingest.document import ParsedDocument, TextBuilder, hidden_groups
from rag.ingest.safety import check_docx

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_RUNS = ("./w:r | ./w:hyperlink/w:r | ./w:ins/w:r | ./w:ins/w:hyperlink/w:r | ./w:smartTag/w:r"
         " | ./w:fldSimple/w:r | ./w:sdt/w:sdtContent/w:r")


def _style_chain(style):
    seen = 0
    while style is not None and seen < 10:
        yield style
        style, seen = style.base_style, seen + 1


class _Styles:
    """Per style id, worked out once: python-docx looks a paragraph's style up by scanning every style."""

    def __init__(self, document) -> None:
        from docx.enum.style import WD_STYLE_TYPE

        self.by_id = {st.style_id: st for st in document.styles}
        default = [st for st in document.styles if st.type == WD_STYLE_TYPE.PARAGRAPH
                   and st.element.get(qn("w:default")) in ("1", "true", "on")]
        self.default = default[0] if default else None
        self.cache: dict[tuple[str, str | None], object] = {}

    def paragraph_style(self, paragraph):
        p_pr = paragraph._p.pPr
        sid = p_pr.pStyle.val if p_pr is not None and p_pr.pStyle is not None else None
        return self.by_id.get(sid, self.default) if sid else self.default

    def _memo(self, kind: str, style, fn):
        key = (kind, style.style_id if style is not None else None)
        if key not in self.cache:
            self.cache[key] = fn(style)
        return self.cache[key]

    def level(self, style) -> int | None:
        return self._memo("level", style, _style_level)

    def hidden(self, style) -> str | None:
        return self._memo("hidden", style, lambda st: next(
            (r for r in (_font_hidden(x.font) for x in _style_chain(st)) if r), None))

    def bold(self, style) -> bool:
        return self._memo("bold", style, lambda st: any(x.font.bold for x in _style_chain(st)))


def _style_level(style) -> int | None:
    for st in _style_chain(style):
        name = st.name or ""
        if name == "Title":
            return 1
        if name.lower().startswith("heading "):
            tail = name.split(" ", 1)[1]
            return int(tail) if tail.isdigit() else 1
    return None


def _heading_level(paragraph, styles: _Styles) -> int | None:
    level = styles.level(styles.paragraph_style(paragraph))
    if level:
        return level
    outline = paragraph._p.xpath("./w:pPr/w:outlineLvl/@w:val")
    if outline and outline[0].isdigit() and int(outline[0]) < 9:
        return int(outline[0]) + 1
    return None


def _font_hidden(font) -> str | None:
    if font.hidden:
        return "docx-hidden-run"
    if font.size is not None and font.size.pt < 1:
        return "docx-tiny-text"
    color = font.color
    if color is not None and color.type is not None:
        if color.rgb is not None and str(color.rgb).upper() == "FFFFFF":
            return "docx-white-text"
        if color.theme_color is not None and color.theme_color.name in ("BACKGROUND_1", "LIGHT_1"):
            return "docx-white-text"
    return None


def _run_hidden(run, paragraph_style, styles: _Styles) -> str | None:
    """Direct formatting first, then the character style, then the paragraph style and its bases."""
    reason = _font_hidden(run.font)
    if reason or run.font.hidden is False:
        return reason
    r_pr = run._r.rPr
    if r_pr is not None and r_pr.rStyle is not None:
        reason = styles.hidden(styles.by_id.get(r_pr.rStyle.val))
    return reason or styles.hidden(paragraph_style)


def _runs(paragraph):
    from docx.text.run import Run

    return [Run(r, paragraph) for r in paragraph._p.xpath(_RUNS)]


def _all_bold(runs, style_bold: bool) -> bool:
    texts = [r for r in runs if r.text.strip()]
    return bool(texts) and all(r.bold or (r.bold is None and style_bold) for r in texts)


def _paragraph(doc: TextBuilder, paragraph, styles: _Styles, fallback_headings: bool) -> None:
    runs = _runs(paragraph)
    style = styles.paragraph_style(paragraph)
    pieces = [(run.text, _run_hidden(run, style, styles)) for run in runs]
    text = "".join(t for t, _ in pieces)
    if not text.strip():
        return
    visible = "".join(t for t, reason in pieces if not reason)
    level = _heading_level(paragraph, styles)
    if level is None and fallback_headings and _all_bold(runs, styles.bold(style)) and _short(visible):
        level = 2
    if level and visible.strip():
        doc.heading(level, visible)
    elif visible.strip():
        doc.block(_list_marker(paragraph, style) + visible)
    for chunk, reason in hidden_groups(pieces):
        doc.block(chunk, hidden_reason=reason)


def _short(text: str) -> bool:
    text = text.strip()
    return 0 < len(text.split()) <= 12 and len(text) <= 100 and not text.endswith((".", ",", ";", ":"))


def _list_marker(paragraph, style) -> str:
    name = (style.name or "") if style is not None else ""
    if name.startswith("List Bullet") or paragraph._p.xpath("./w:pPr/w:numPr"):
        return "- "
    return ""


def _cell(paragraphs, styles: _Styles) -> tuple[str, list[tuple[str, str | None]]]:
    """A table cell's visible text, and its runs with their hiding reasons (hidden, white, tiny)."""
    visible, pieces = [], []
    for paragraph in paragraphs:
        style = styles.paragraph_style(paragraph)
        runs = [(run.text, _run_hidden(run, style, styles)) for run in _runs(paragraph)]
        pieces += runs + [(" ", None)]
        text = "".join(t for t, reason in runs if not reason).strip()
        if text:
            visible.append(text)
    return " ".join(visible), pieces


def _table(doc: TextBuilder, table, styles: _Styles) -> None:
    doc.table_start()
    for r, row in enumerate(table.rows):
        cells: list[str] = []
        hidden: list[tuple[str, str | None]] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell appears once per grid column it spans
                continue
            seen.add(id(cell._tc))
            text, pieces = _cell(cell.paragraphs, styles)
            cells.append(text)
            hidden += pieces
        doc.row(cells, r)
        for chunk, reason in hidden_groups(hidden):  # after the row, flagged: never part of a cell
            doc.block(chunk, hidden_reason=reason)
    doc.table_end()


def parse_docx(data: bytes) -> ParsedDocument:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    check_docx(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many types for broken packages
        raise CorruptFile(f"not a readable DOCX package ({type(exc).__name__}: {exc})") from exc
    doc = TextBuilder()
    styles = _Styles(document)
    children = list(document.element.body.iterchildren())
    paragraphs = [Paragraph(c, document) for c in children if c.tag.endswith("}p")]
    fallback = not any(_heading_level(p, styles) for p in paragraphs)
    for child in children:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            _paragraph(doc, Paragraph(child, document), styles, fallback)
        elif tag == "tbl":
            _table(doc, Table(child, document), styles)
        elif tag == "sdt":  # content controls at body level hold ordinary paragraphs
            for p in child.xpath("./w:sdtContent/w:p"):
                _paragraph(doc, Paragraph(p, document), styles, fallback)
    title = (document.core_properties.title or "").strip() or None
    words = len(doc.text.split())
    body = document.element.body
    breaks = max(len(body.xpath(".//w:br[@w:type='page']")), len(body.xpath(".//w:lastRenderedPageBreak")))
    return doc.build(DOCX_TYPE, "python-docx", title=title, pages=max(1, breaks + 1) if breaks else None,
                     warnings=[] if words else ["the DOCX body holds no text"])
