"""Choose the parser by content signature and run it.

Every format (PDF, DOCX, HTML, Markdown, text) is parsed in a child process under the time and memory limits
of the settings (see worker.py), so a hostile file costs at most those limits and never the caller's process.
Any unexpected parser failure becomes a CorruptFile error naming the file, so one bad file never stops a batch.

`parse_ahead` lets the API parse an upload before it takes the lock that serializes writes (mapping jobs,
uploads): the result waits in a small cache keyed by the bytes' digest and name, and the `parse_bytes` call
made under the lock picks it up instead of parsing again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from rag.errors import CorruptFile, EmptyFile, IngestError
from rag.ingest import detect
from rag.ingest.document import ParsedDocument
from rag.settings import Settings

_AHEAD: OrderedDict[tuple[str, str], ParsedDocument | IngestError] = OrderedDict()
_AHEAD_SIZE = 8
_AHEAD_LOCK = threading.Lock()


def parse_bytes(data: bytes, name: str, settings: Settings, isolate: bool = True) -> ParsedDocument:
    with _AHEAD_LOCK:
        ready = _AHEAD.pop((hashlib.sha256(data).hexdigest(), name), None) if _AHEAD else None
    if isinstance(ready, IngestError):
        raise ready
    if ready is not None:
        return ready
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


def parse_ahead(data: bytes, name: str, settings: Settings) -> None:
    """Parse now (outside any lock) so that the next `parse_bytes` of the same bytes and name is immediate;
    an ingestion error is kept and raised there, where it is recorded. Files over the size limit are left
    to the size check."""
    if len(data) > settings.max_file_mb * 1024 * 1024:
        return
    try:
        outcome: ParsedDocument | IngestError = parse_bytes(data, name, settings)
    except IngestError as exc:
        outcome = exc
    with _AHEAD_LOCK:
        _AHEAD[(hashlib.sha256(data).hexdigest(), name)] = outcome
        while len(_AHEAD) > _AHEAD_SIZE:
            _AHEAD.popitem(last=False)


def parse_text_bytes(data: bytes, name: str, media_type: str) -> ParsedDocument:
    """HTML, Markdown or plain text from bytes (runs in the limited child)."""
    text = detect.decode_text(data, name)
    if media_type == detect.HTML:
        from rag.ingest.html import parse_html

        return parse_html(text)
    from rag.ingest.markdown import parse_markdown, parse_text

    return parse_markdown(text) if media_type == detect.MARKDOWN else parse_text(text)


def _parse(data: bytes, name: str, media_type: str, settings: Settings, isolate: bool) -> ParsedDocument:
    if media_type in (detect.PDF, detect.DOCX):
        from rag.ingest.office import parse_docx
        from rag.ingest.pdf import parse_pdf

        fn, args, what = (parse_pdf, (data,), "the PDF parser") if media_type == detect.PDF else \
            (parse_docx, (data,), "the DOCX parser")
    else:
        fn, args, what = parse_text_bytes, (data, name, media_type), f"the {media_type.split('/')[1]} parser"
    if not isolate:
        return fn(*args)
    from rag.ingest.worker import run_limited

    return run_limited(fn, args, timeout_s=settings.parse_timeout_s, memory_mb=settings.parse_memory_mb, what=what)
