"""Checks on a DOCX package before any XML parser sees it.

A DOCX is a ZIP of XML parts. Two attacks live there: a zip bomb (a few kilobytes that inflate to gigabytes)
and XML with a document type declaration (external entities that read local files or call out, and nested
entities that expand exponentially: "billion laughs"). Word never writes a DOCTYPE, so any part that
declares one is rejected outright, before python-docx (lxml) parses it. Every part an XML parser could read
is checked, whatever its name (parts typed as XML in [Content_Types].xml, `.rels`, or anything that starts
like XML), after decoding it as that parser would: byte-order mark, UTF-16/UTF-32 without one, EBCDIC, or
the encoding its XML declaration names (one Python cannot decode is rejected). Sizes are checked from the ZIP
directory before anything is inflated; Python's zipfile never inflates more than an entry's declared size, so
the declared sizes bound the work, and the parse runs under a memory limit anyway.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile

from rag.errors import CorruptFile, UnsafeFile

MAX_UNCOMPRESSED = 512 * 1024 * 1024  # all parts together, inflated
MAX_RATIO = 200  # inflated / compressed, for any part larger than RATIO_FLOOR
RATIO_FLOOR = 4 * 1024 * 1024
MAX_ENTRIES = 10_000
_XML_NAME = re.compile(r"\.(xml|rels|vml)$", re.I)
_BOMS = [(b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\xef\xbb\xbf", "utf-8-sig"),
         (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le")]
_NO_BOM = [(b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"), (b"\x00<\x00", "utf-16-be"),
           (b"<\x00", "utf-16-le"), (b"\x4c\x6f\xa7\x94", "cp500")]
_DECLARED = re.compile(rb"^\s*<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']")
_CONTENT_TYPES = re.compile(r"<(Default|Override)\b([^>]*)>", re.I)
_ATTR = re.compile(r"(Extension|PartName|ContentType)\s*=\s*[\"']([^\"']*)[\"']", re.I)
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
        types = _content_types(zf)
        for info in infos:
            _check_part(zf, info, types)


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


def _content_types(zf: zipfile.ZipFile) -> dict[str, str]:
    """'ext:xml' / '/word/document.xml' -> content type, from [Content_Types].xml (checked before it is read)."""
    info = next((i for i in zf.infolist() if i.filename.lower() == "[content_types].xml"), None)
    if info is None:
        return {}
    _check_part(zf, info, {})
    with zf.open(info) as part:
        raw = part.read(4 << 20)
    text = raw.decode(_encoding(raw[:256]) or "utf-8", errors="replace")
    out = {}
    for kind, attrs in _CONTENT_TYPES.findall(text):
        found = {k.lower(): v for k, v in _ATTR.findall(attrs)}
        key = f"ext:{found.get('extension', '').lower()}" if kind.lower() == "default" else \
            found.get("partname", "").lower()
        out[key] = found.get("contenttype", "").lower()
    return out


def _encoding(head: bytes) -> str | None:
    """The encoding an XML parser would read this part in (byte-order mark, first bytes, declaration)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    for start, name in _NO_BOM:
        if head.startswith(start):
            return name
    declared = _DECLARED.match(head)
    return declared.group(1).decode("ascii").lower() if declared else None


def _is_xml(info: zipfile.ZipInfo, head: bytes, types: dict[str, str]) -> bool:
    """A part an XML parser may read: named like one, typed as one, or starting like one in any encoding."""
    if _XML_NAME.search(info.filename) or info.filename.lower() == "[content_types].xml":
        return True
    ext = info.filename.rsplit(".", 1)[-1].lower() if "." in info.filename.rsplit("/", 1)[-1] else ""
    ctype = types.get("/" + info.filename.lower()) or types.get(f"ext:{ext}", "")
    if ctype:
        return "xml" in ctype
    return _encoding(head) is not None or head.lstrip()[:1] == b"<"


def _check_part(zf: zipfile.ZipFile, info: zipfile.ZipInfo, types: dict[str, str]) -> None:
    """Reject a part that declares a DOCTYPE or entities, decoded in the encoding the XML parser would use."""
    try:
        with zf.open(info) as part:
            head = part.read(256)
            if not _is_xml(info, head, types):
                return
            encoding = _encoding(head) or "utf-8"
            try:
                decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
            except LookupError:
                raise UnsafeFile(f"part {info.filename} is XML in an encoding that cannot be checked "
                                 f"({encoding}); Word writes UTF-8 or UTF-16") from None
            tail, chunk = "", head
            while chunk:
                window = tail + decoder.decode(chunk)
                if _declares(window):
                    raise UnsafeFile(f"part {info.filename} declares a DOCTYPE or entities (XXE / entity "
                                     f"expansion attack); Word never writes one")
                tail, chunk = window[-16:], part.read(_CHUNK)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise CorruptFile(f"part {info.filename} cannot be read ({exc})") from exc


def _declares(window: str) -> bool:
    if "<" not in window:
        return False
    lower = window.lower()
    return "<!doctype" in lower or "<!entity" in lower
