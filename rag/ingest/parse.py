"""Choose the parser by content signature and run it."""

from __future__ import annotations

from rag.errors import EmptyFile, IngestError
from rag.ingest import detect
from rag.ingest.document import ParsedDocument
from rag.settings import Settings


def parse_bytes(data: bytes, name: str, settings: Settings) -> ParsedDocument:
    media_type = detect.sniff(data, name)
    try:
        parsed = _parse(data, name, media_type)
    except IngestError as exc:
        exc.file = exc.file or name
        exc.context.setdefault("file", name)
        raise
    if not parsed.text.strip():
        raise EmptyFile("the document contains no text", file=name)
    return parsed


def _parse(data: bytes, name: str, media_type: str) -> ParsedDocument:
    if media_type == detect.PDF:
        from rag.ingest.office import parse_pdf

        return parse_pdf(data)
    if media_type == detect.DOCX:
        from rag.ingest.office import parse_docx

        return parse_docx(data)
    text = detect.decode_text(data, name)
    if media_type == detect.HTML:
        from rag.ingest.html import parse_html

        return parse_html(text)
    from rag.ingest.markdown import parse_markdown, parse_text

    return parse_markdown(text) if media_type == detect.MARKDOWN else parse_text(text)
