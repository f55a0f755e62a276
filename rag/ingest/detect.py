"""File type by content signature, never by name."""

from __future__ import annotations

import io
import re
import zipfile

from rag.errors import EmptyFile, NeedsOCR, UnsupportedType

PDF, DOCX, HTML, MARKDOWN, TEXT = ("application/pdf",
                                   "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                                   "text/html", "text/markdown", "text/plain")

_IMAGES = {b"\x89PNG": "PNG image", b"\xff\xd8\xff": "JPEG image", b"GIF8": "GIF image",
           b"II*\x00": "TIFF image", b"MM\x00*": "TIFF image"}
_MD_HINTS = re.compile(r"^(#{1,6}\s|\s*[-*+]\s|\s*\d+\.\s|\|.*\||```|>\s)|\[[^\]]+\]\([^)]+\)|\*\*\S", re.M)
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")
_HTML_START = re.compile(r"^\s*(<!doctype\s+html|<html|<head|<body|<\?xml[^>]*>\s*<html)", re.I)


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with BOM; anything else is not a text document."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise UnsupportedType("binary content that is not PDF, DOCX, HTML, Markdown or text", file=name) from exc
    if "\x00" in text:
        raise UnsupportedType("binary content that is not PDF, DOCX, HTML, Markdown or text", file=name)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def sniff(data: bytes, name: str) -> str:
    if not data.strip():
        raise EmptyFile("the file is empty" if not data else "the file holds only blank space", file=name)
    head = data[:1024]
    if b"%PDF-" in head:
        return PDF
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = set(zf.namelist())
        except zipfile.BadZipFile:
            return DOCX  # a broken DOCX is reported as corrupt by its parser
        if "word/document.xml" in names:
            return DOCX
        kind = ("an Excel workbook" if "xl/workbook.xml" in names else
                "a PowerPoint deck" if "ppt/presentation.xml" in names else "a ZIP archive")
        raise UnsupportedType(f"{kind} is not a supported policy format (PDF, DOCX, HTML, Markdown, text)",
                              file=name)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnsupportedType("legacy binary Word/Office file: save it as DOCX or PDF first", file=name)
    for magic, kind in _IMAGES.items():
        if head.startswith(magic):
            raise NeedsOCR(f"{kind}: there is no text layer; run OCR and upload the result", file=name)
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    text = data[:65536].decode("utf-16" if utf16 else "utf-8", errors="ignore")
    controls = len(_CONTROLS.findall(text, 0, 8192))
    if "\x00" in text or controls > max(8, len(text[:8192]) // 100):
        raise UnsupportedType("binary content that is not PDF, DOCX, HTML, Markdown or text", file=name)
    if _HTML_START.match(text) or text.lstrip().lower().startswith("<!doctype html"):
        return HTML
    return MARKDOWN if _MD_HINTS.search(text) else TEXT
