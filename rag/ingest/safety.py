"""Checks on a DOCX package before any XML parser sees it.

A DOCX is a ZIP of XML parts. Two attacks live there: a zip bomb (a few kilobytes that inflate to gigabytes)
and XML with a document type declaration (external entities that read local files or call out, and nested
entities that expand exponentially: "billion laughs"). Word never writes a DOCTYPE, so any part that
declares one is rejected outright, before python-docx (lxml) parses it. Sizes are checked from the ZIP
directory before anything is inflated; Python's zipfile never inflates more than an entry's declared size, so
the declared sizes bound the work, and the parse runs under a memory limit anyway.
"""

from __future__ import annotations

import io
import re
import zipfile

from rag.errors import CorruptFile, UnsafeFile

MAX_UNCOMPRESSED = 512 * 1024 * 1024  # all parts together, inflated
MAX_RATIO = 200  # inflated / compressed, for any part larger than RATIO_FLOOR
RATIO_FLOOR = 4 * 1024 * 1024
MAX_ENTRIES = 10_000
_XML_PART = re.compile(r"\.(xml|rels|vml)$", re.I)
_DECLARATIONS = [token.encode(enc) for token in ("<!doctype", "<!entity")
                 for enc in ("ascii", "utf-16-le", "utf-16-be")]
_CHUNK = 1 << 20


def check_docx(data: bytes, max_uncompressed: int = MAX_UNCOMPRESSED, max_ratio: int = MAX_RATIO) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CorruptFile(f"not a readable DOCX package: the ZIP structure is damaged or truncated ({exc})") \
            from exc
    with zf:
        infos = zf.infolist()
        _check_sizes(infos, max_uncompressed, max_ratio)
        for info in infos:
            if _XML_PART.search(info.filename) or info.filename == "[Content_Types].xml":
                _check_xml(zf, info)


def _check_sizes(infos: list[zipfile.ZipInfo], max_uncompressed: int, max_ratio: int) -> None:
    if len(infos) > MAX_ENTRIES:
        raise UnsafeFile(f"the DOCX package has {len(infos)} parts (limit {MAX_ENTRIES}): a zip bomb?")
    total = sum(i.file_size for i in infos)
    if total > max_uncompressed:
        raise UnsafeFile(f"the DOCX package would inflate to {total / 1048576:.0f} MB (limit "
                         f"{max_uncompressed / 1048576:.0f} MB): a zip bomb?")
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR and ratio > max_ratio:
            raise UnsafeFile(f"part {info.filename} inflates {ratio:.0f}:1 (limit {max_ratio}:1): a zip bomb?")


def _check_xml(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    tail = b""
    try:
        with zf.open(info) as part:
            while chunk := part.read(_CHUNK):
                window = tail + chunk
                if _declares(window):
                    raise UnsafeFile(f"part {info.filename} declares a DOCTYPE or entities (XXE / entity "
                                     f"expansion attack); Word never writes one")
                tail = chunk[-32:]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise CorruptFile(f"part {info.filename} cannot be read ({exc})") from exc


def _declares(window: bytes) -> bool:
    if b"<" not in window:
        return False
    lower = window.lower()
    return any(d in lower for d in _DECLARATIONS)
