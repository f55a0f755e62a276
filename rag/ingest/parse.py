"""Choose the parser by content signature and run it.

PDF and DOCX are parsed in a child process under the time and memory limits of the settings (see worker.py);
Markdown, HTML and text are parsed in process by linear-time pure-Python parsers. Any unexpected parser
failure becomes a CorruptFile error naming the file, so one bad file never stops a batch.
"""

from __future__ import annotations

from rag.errors import CorruptFile, EmptyFile, IngestError
from rag.ingest import detect
from rag.ingest.document import ParsedDocument
from rag.settings import Settings


def parse_bytes(data: bytes, name: str, settings: Settings, isolate: bool = True) -> ParsedDocument:
    try:
        media_type = detect.sniff(data, name)
        parsed = _parse(data, name, media_type, settings, isolate)
    except IngestError as exc:
        exc.file = exc.file or name
        exc.context.setdefault("file", name)
        raise
    except Exception as exc:  # noqa: BLE001 - a parser bug must not take the batch down
        raise CorruptFile(f"could not be parsed ({type(exc).__name__}: {exc})"[:300], file=name) from exc
    if not parsed.text.strip():
        raise EmptyFile("the document contains no text", file=name)
    return parsed


def _parse(data: bytes, name: str, media_type: str, settings: Settings, isolate: bool) -> ParsedDocument:
    if media_type in (detect.PDF, detect.DOCX):
        from rag.ingest.office import parse_docx
        from rag.ingest.pdf import parse_pdf

        fn, what = (parse_pdf, "the PDF parser") if media_type == detect.PDF else (parse_docx, "the DOCX parser")
        if not isolate:
            return fn(data)
        from rag.ingest.worker import run_limited

        return run_limited(fn, (data,), timeout_s=settings.parse_timeout_s, memory_mb=settings.parse_memory_mb,
                           what=what)
    text = detect.decode_text(data, name)
    if media_type == detect.HTML:
        from rag.ingest.html import parse_html

        return parse_html(text)
    from rag.ingest.markdown import parse_markdown, parse_text

    return parse_markdown(text) if media_type == detect.MARKDOWN else parse_text(text)
