"""Every kind of bad input gets its own clear error naming the file, leaves nothing behind, and does not stop
a batch. The hostile files are generated here (rag.ingest.specimens, reportlab, python-docx + zipfile)."""

import io
import time
import zipfile

import pytest
from sqlalchemy import func, select

from rag.errors import (BadPath, CorruptFile, EmptyFile, EncryptedFile, IngestError, NeedsOCR, ParseLimit,
                        TooLarge, UnsafeFile, UnsupportedType)
from rag.ingest import specimens
from rag.ingest.pipeline import ingest_bytes, ingest_file
from rag.ingest.safety import check_docx
from rag.ingest.worker import run_limited
from rag.store import DocumentRow, PassageRow, SectionRow, VersionRow


def encrypted_pdf() -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    page = canvas.Canvas(buf, encrypt="secret")
    page.drawString(72, 700, "Access reviews happen every quarter.")
    page.showPage()
    page.save()
    return buf.getvalue()


def xlsx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    return buf.getvalue()


CASES = {
    "unsupported-xlsx": ("book.xlsx", xlsx, UnsupportedType, "Excel"),
    "unsupported-legacy-doc": ("old.doc", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), UnsupportedType,
                               "legacy"),
    "unsupported-binary": ("blob.bin", lambda: bytes(range(256)) * 8, UnsupportedType, "binary"),
    "empty": ("empty.md", lambda: b"", EmptyFile, "empty"),
    "blank": ("blank.txt", lambda: b" \n\t\n ", EmptyFile, "blank space"),
    "image": ("scan.png", lambda: b"\x89PNG\r\n\x1a\n" + bytes(100), NeedsOCR, "OCR"),
    "scanned-pdf": ("scan.pdf", specimens.scanned_pdf, NeedsOCR, "no text layer"),
    "encrypted-pdf": ("locked.pdf", encrypted_pdf, EncryptedFile, "encrypted"),
    "truncated-pdf": ("cut.pdf", lambda: specimens.truncated(specimens.text_pdf(specimens.policy_pages(2))),
                      CorruptFile, "truncated"),
    "garbage-pdf": ("junk.pdf", lambda: b"%PDF-1.7\n" + bytes(range(1, 200)) * 20 + b"\nstartxref\n0\n%%EOF\n",
                    CorruptFile, "PDF"),
    "circular-xref-pdf": ("loop.pdf", specimens.circular_pdf, CorruptFile, "damaged"),
    "truncated-docx": ("cut.docx", lambda: specimens.truncated(specimens.policy_docx(2)), CorruptFile, "ZIP"),
    "corrupt-docx": ("bad.docx", lambda: specimens._rewrite(specimens.policy_docx(1), "word/document.xml",
                                                            lambda xml: xml[: len(xml) // 2]), CorruptFile, "DOCX"),
    "zip-bomb-docx": ("bomb.docx", lambda: specimens.zip_bomb_docx(8), UnsafeFile, "zip bomb"),
    "xxe-docx": ("xxe.docx", specimens.xxe_docx, UnsafeFile, "DOCTYPE"),
    "billion-laughs-docx": ("lol.docx", specimens.billion_laughs_docx, UnsafeFile, "entities"),
}


def _nothing_stored(ctx) -> bool:
    with ctx.store.session() as s:
        return all(s.scalar(select(func.count()).select_from(t)) == 0
                   for t in (DocumentRow, VersionRow, SectionRow, PassageRow))


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_rejected_with_its_reason(ctx, case):
    name, make, error, words = CASES[case]
    workspace = ctx.workspace(create=True)
    with pytest.raises(error, match=words) as info:
        ingest_bytes(ctx, workspace, name, make())
    exc = info.value
    assert exc.file == name and str(exc).startswith(f"{name}: ")
    assert exc.exit_code == 3 and 400 <= exc.http_status < 500
    assert _nothing_stored(ctx)


def test_pdf_decompression_bomb_hits_the_memory_limit(ctx):
    ctx.settings.parse_memory_mb = 512
    started = time.perf_counter()
    with pytest.raises(ParseLimit, match="512 MB memory limit") as info:
        ingest_bytes(ctx, ctx.workspace(create=True), "bomb.pdf", specimens.bomb_pdf(2048, stream_mb=16))
    assert time.perf_counter() - started < ctx.settings.parse_timeout_s
    assert info.value.reason == "limit-exceeded" and info.value.file == "bomb.pdf"
    assert _nothing_stored(ctx)


def test_parser_child_is_killed_at_the_time_limit():
    started = time.perf_counter()
    with pytest.raises(ParseLimit, match="within the 0.5 s limit"):
        run_limited(time.sleep, (30,), timeout_s=0.5, memory_mb=512)
    assert time.perf_counter() - started < 3
    assert run_limited(len, (b"abc",), timeout_s=5, memory_mb=512) == 3  # the server survives


def test_parser_child_memory_limit():
    with pytest.raises(ParseLimit, match="256 MB memory limit"):
        run_limited(bytearray, (1 << 31,), timeout_s=10, memory_mb=256)


def test_docx_caps_total_inflated_size_before_extracting():
    data = specimens.policy_docx(1)
    with pytest.raises(UnsafeFile, match="would inflate"):
        check_docx(data, max_uncompressed=10_000)
    check_docx(data)  # an ordinary document passes


def test_file_over_the_size_limit(ctx, tmp_path):
    ctx.settings.max_file_mb = 0.01
    path = tmp_path / "big.md"
    path.write_text("# Big\n\n" + "Access is reviewed every quarter. " * 1000)
    result = ingest_file(ctx, ctx.workspace(create=True), "big.md", path)
    assert result.status == "rejected" and result.reason == "too-large" and "0.01 MB limit" in result.message
    with pytest.raises(TooLarge):
        ingest_bytes(ctx, ctx.workspace(create=True), "big.md", path.read_bytes())


@pytest.mark.parametrize("name", ["../etc/passwd", "a/../../b.md", "/abs/policy.md", "pol\x00icy.md", "",
                                  "C:/policy.md", "./x.md"])
def test_bad_paths(ctx, name):
    with pytest.raises(BadPath):
        ingest_bytes(ctx, ctx.workspace(create=True), name, b"# Policy\n\nAccess is reviewed every quarter.\n")
    assert _nothing_stored(ctx)


def test_a_failure_while_storing_leaves_nothing_half_written(ctx, monkeypatch):
    import rag.ingest.versions as versions

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(versions, "_retire", boom)  # called after the version and sections were added
    with pytest.raises(RuntimeError):
        ingest_bytes(ctx, ctx.workspace(create=True), "p.md", b"# Policy\n\nAccess is reviewed every quarter by owners.\n")
    assert _nothing_stored(ctx)


def test_unexpected_parser_error_becomes_corrupt_file(ctx, monkeypatch):
    import rag.ingest.detect as detect  # parsers run in the limited child; the sniffing runs here

    monkeypatch.setattr(detect, "sniff", lambda data, name: 1 / 0)
    with pytest.raises(CorruptFile, match="ZeroDivisionError"):
        ingest_bytes(ctx, ctx.workspace(create=True), "p.md", b"# Policy\n\n- access is reviewed\n")


def test_rejections_name_file_and_reason_in_their_dict():
    exc = UnsafeFile("part word/document.xml declares a DOCTYPE", file="x.docx")
    assert exc.as_dict()["reason"] == "unsafe" and exc.as_dict()["file"] == "x.docx"
    assert isinstance(exc, IngestError)
