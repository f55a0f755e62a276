"""DOCX and PDF parsers. Each returns the canonical text with its headings, pages, tables and hidden text."""

from __future__ import annotations

import io

from rag.errors import CorruptFile, EncryptedFile, NeedsOCR
from rag.ingest.document import ParsedDocument, TextBuilder
from rag.ingest.markdown import add_plain_text


def _docx_heading_level(paragraph) -> int | None:
    name = (paragraph.style.name or "") if paragraph.style is not None else ""
    if name == "Title":
        return 1
    if name.startswith("Heading "):
        tail = name.split(" ", 1)[1]
        return int(tail) if tail.isdigit() else 1
    return None


def _run_hidden(run) -> str | None:
    font = run.font
    if font.hidden:
        return "docx-hidden-run"
    if font.size is not None and font.size.pt < 1:
        return "docx-tiny-text"
    color = font.color.rgb if font.color is not None and font.color.type is not None else None
    if color is not None and str(color).upper() == "FFFFFF":
        return "docx-white-text"
    return None


def _docx_paragraph(doc: TextBuilder, paragraph) -> None:
    level = _docx_heading_level(paragraph)
    if level:
        doc.heading(level, paragraph.text)
        return
    pieces = [(run.text, _run_hidden(run)) for run in paragraph.runs]
    text = "".join(t for t, _ in pieces)
    if not text.strip():
        return
    if all(reason for t, reason in pieces if t.strip()):
        doc.block(text, hidden_reason=next(r for t, r in pieces if t.strip()))
        return
    visible = "".join(t for t, reason in pieces if not reason)
    span = doc.block(visible)
    hidden_text = "".join(t for t, reason in pieces if reason)
    if hidden_text.strip():
        reason = next(r for _, r in pieces if r)
        doc.block(hidden_text, hidden_reason=reason)
    del span


def parse_docx(data: bytes) -> ParsedDocument:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many types for broken packages
        raise CorruptFile(f"not a readable DOCX package ({type(exc).__name__}: {exc})") from exc
    doc = TextBuilder()
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            _docx_paragraph(doc, Paragraph(child, document))
        elif tag == "tbl":
            doc.table_start()
            for row in Table(child, document).rows:
                cells = []
                for cell in row.cells:
                    text = " ".join(p.text.strip() for p in cell.paragraphs if p.text.strip())
                    if text and (not cells or cells[-1] != text):
                        cells.append(text)
                doc.block(" | ".join(cells))
            doc.table_end()
    title = document.core_properties.title or None
    return doc.build("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "python-docx",
                     title=title)


def parse_pdf(data: bytes) -> ParsedDocument:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        message = str(exc).lower()
        if "password" in message:
            raise EncryptedFile("the PDF is encrypted: remove the password and upload it again") from exc
        raise CorruptFile(f"not a readable PDF ({exc})") from exc
    doc = TextBuilder()
    try:
        pages = len(pdf)
        chars = 0
        for number in range(pages):
            page = pdf[number]
            text = page.get_textpage().get_text_bounded() or ""
            chars += len(text.strip())
            doc.page = number + 1
            add_plain_text(doc, text.replace("\r\n", "\n").replace("\r", "\n"))
        title = (pdf.get_metadata_dict().get("Title") or None)
    finally:
        pdf.close()
    if chars == 0:
        raise NeedsOCR(f"the PDF has {pages} page(s) but no text layer (scanned?): run OCR first")
    return doc.build("application/pdf", "pypdfium2", title=title, pages=pages)
