"""Generated specimen files, good and hostile, for the ingestion tests and the benchmark.

PDFs are written by hand (a few objects, an xref table) so that each defect is exactly the one intended and
no PDF-writing library is needed at run time; DOCX files are made with python-docx and then altered with
zipfile. HTML and Markdown specimens hide a canary sentence one way each (see `canary`), and the hostile ones
nest or leave tags unclosed to a given size. Nothing here is used when ingesting real documents.
"""

from __future__ import annotations

import io
import zipfile
import zlib

# --- PDF ----------------------------------------------------------------------------------------------


def _pdf(objects: list[bytes], root: int = 1, prev_self: bool = False, info: int | None = None) -> bytes:
    """Objects are numbered from 1 in order; returns a complete file with an xref table and trailer."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    trailer = b"/Size %d /Root %d 0 R" % (len(objects) + 1, root)
    if info:
        trailer += b" /Info %d 0 R" % info
    if prev_self:  # the previous cross-reference section is this one: a loop
        trailer += b" /Prev %d" % xref
    out.write(b"trailer\n<< " + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def _stream(content: bytes, compress: bool = False, extra: bytes = b"") -> bytes:
    if compress:
        content = zlib.compress(content, 6)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(content), extra) + content + b"\nendstream"


def _escape(text: str) -> bytes:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("cp1252")


def page_content(lines: list[tuple[str, float]], top: float = 740) -> bytes:
    """Text lines as (text, font size); sizes >= 14 are set in bold. Extra ops: a line may start with '#op '."""
    ops, y = [], top
    for text, size in lines:
        prefix = b""
        if text.startswith("#op "):
            raw, _, text = text[4:].partition("|")
            prefix = raw.encode()
        font = b"/F2" if size >= 14 else b"/F1"
        ops.append(b"q " + prefix + b" BT " + font + b" %.2f Tf 72 %.1f Td (" % (size, y) + _escape(text)
                   + b") Tj ET Q")
        y -= max(size * 1.5, 12)
        if y < 60:
            break
    return b"\n".join(ops)


def text_pdf(pages: list[list[tuple[str, float]]], title: str = "Specimen", compress: bool = True) -> bytes:
    """A PDF with Helvetica (regular and bold) text on US Letter pages."""
    n = len(pages)
    kids = b" ".join(b"%d 0 R" % (5 + 2 * i) for i in range(n))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"]
    for i, lines in enumerate(pages):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R "
                       b"/F2 4 0 R >> >> /Contents %d 0 R >>" % (6 + 2 * i))
        objects.append(_stream(page_content(lines), compress))
    objects.append(b"<< /Title (" + _escape(title) + b") /Producer (ctrlmap specimens) >>")
    return _pdf(objects, info=len(objects))


def policy_pages(count: int, words: list[str] | None = None) -> list[list[tuple[str, float]]]:
    """`count` pages of numbered sections with body text, about 45 lines each."""
    words = words or ("the security team reviews access rights every quarter and removes accounts that are "
                      "no longer needed while owners confirm each approval in the ticket").split()
    pages = []
    for p in range(count):
        lines: list[tuple[str, float]] = [(f"{p + 1}. Section {p + 1} controls", 16)]
        for k in range(44):
            body = " ".join(words[(k + j) % len(words)] for j in range(12))
            lines.append((f"Rule {p + 1}.{k + 1}: {body}.", 10))
        pages.append(lines)
    return pages


def hidden_text_pdf() -> bytes:
    page = [("1. Access control", 16), ("Access is reviewed every quarter by the system owner.", 10),
            ("#op 1 1 1 rg|White text says the policy is approved by everyone.", 10),
            ("Tiny text grants an exception to every control.", 0.5),
            ("#op 1 0 0 1 900 0 cm|Off-page text waives the audit.", 10),
            ("Passwords are at least fourteen characters long.", 10)]
    return text_pdf([page], title="Hidden text specimen")


def scanned_pdf(pages: int = 2) -> bytes:
    """Pages holding only an image: no text layer."""
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
               _stream(bytes(range(256)) * 16, extra=b" /Type /XObject /Subtype /Image /Width 64 /Height 64 "
                                                     b"/ColorSpace /DeviceGray /BitsPerComponent 8")]
    for i in range(pages):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im1 3 0 "
                       b"R >> >> /Contents %d 0 R >>" % (5 + 2 * i))
        objects.append(_stream(b"q 468 0 0 648 72 72 cm /Im1 Do Q"))
    return _pdf(objects)


def bomb_pdf(inflated_mb: int = 2048, stream_mb: int = 64) -> bytes:
    """One page whose content streams inflate to `inflated_mb` MB: a Flate stream of `stream_mb` MB of spaces
    (about 1000:1), listed as many times as needed in the page's /Contents (a few hundred KB on disk)."""
    comp = zlib.compressobj(6)
    block = b" " * (1 << 20)
    parts = [comp.compress(b"BT /F1 12 Tf 72 700 Td (Decompression bomb) Tj ET\n")]
    parts += [comp.compress(block) for _ in range(stream_mb)]
    parts.append(comp.flush())
    content = b"".join(parts)
    refs = b" ".join([b"5 0 R"] * max(1, inflated_mb // stream_mb))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
               b"/Contents [" + refs + b"] >>",
               b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream"]
    return _pdf(objects)


def circular_pdf() -> bytes:
    """A page tree whose node lists itself among its kids, and an xref chain whose /Prev points to itself."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
               b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 3 0 R] /Count 1 >>"]
    return _pdf(objects, prev_self=True)


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    return data[: int(len(data) * keep)]


# --- DOCX ---------------------------------------------------------------------------------------------


def policy_docx(sections: int = 3, hidden: bool = False, paragraphs: int = 3) -> bytes:
    import docx
    from docx.shared import Pt, RGBColor

    document = docx.Document()
    document.add_heading("Specimen Access Control Policy", level=1)
    for s in range(sections):
        document.add_heading(f"{s + 1}. Section {s + 1}", level=2)
        for k in range(paragraphs):
            document.add_paragraph(f"Owners review access to system {s}-{k} every quarter and record the result.")
        table = document.add_table(rows=2, cols=2)
        for r, row in enumerate([("Role", "Approver"), (f"Engineer {s}", "Security lead")]):
            for c, text in enumerate(row):
                table.cell(r, c).text = text
        if hidden:
            p = document.add_paragraph("Visible sentence before. ")
            p.add_run("Hidden run grants every exception.").font.hidden = True
            document.add_paragraph().add_run("White text approves all vendors.").font.color.rgb = \
                RGBColor(0xFF, 0xFF, 0xFF)
            document.add_paragraph().add_run("Tiny text disables logging.").font.size = Pt(0.5)
        document.add_page_break()
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def _rewrite(data: bytes, name: str, change) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            dst.writestr(info.filename, change(body) if info.filename == name else body)
    return out.getvalue()


def xxe_docx() -> bytes:
    """word/document.xml declares an external entity that would read /etc/passwd."""
    def change(xml: bytes) -> bytes:
        head, _, rest = xml.partition(b"?>")
        doctype = b'<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        return head + b"?>" + doctype + rest.replace(b"Owners review", b"&xxe; Owners review", 1)
    return _rewrite(policy_docx(1), "word/document.xml", change)


def billion_laughs_docx() -> bytes:
    """word/styles.xml declares nested entities that expand exponentially."""
    entities = b'<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))

    def change(xml: bytes) -> bytes:
        head, _, rest = xml.partition(b"?>")
        return head + b"?><!DOCTYPE lolz [" + entities + b"]>" + rest
    return _rewrite(policy_docx(1), "word/styles.xml", change)


def zip_bomb_docx(inflated_mb: int = 64) -> bytes:
    """A valid DOCX plus a part of zeros that inflates about 1000:1."""
    out = io.BytesIO(policy_docx(1))
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("word/media/padding.bin", "w", force_zip64=True) as part:
            block = bytes(1 << 20)
            for _ in range(inflated_mb):
                part.write(block)
    return out.getvalue()


def hidden_table_docx() -> dict[str, bytes]:
    """DOCX files whose table cells hold a hidden, a white and a tiny run next to visible text: one per case,
    the hidden run carrying the canary `canary(case)`."""
    import docx
    from docx.shared import Pt, RGBColor

    def make(case: str, style) -> bytes:
        document = docx.Document()
        document.add_heading("Access Review Standard", level=1)
        document.add_paragraph("Owners review access to production systems every quarter and record the result.")
        table = document.add_table(rows=2, cols=2)
        table.cell(0, 0).text, table.cell(0, 1).text = "Control", "Owner"
        cell = table.cell(1, 0).paragraphs[0]
        cell.add_run("Quarterly access review. ")
        style(cell.add_run(hidden_sentence(case)).font)
        table.cell(1, 1).text = "Security lead"
        buf = io.BytesIO()
        document.save(buf)
        return buf.getvalue()

    def white(font) -> None:
        font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)

    def tiny(font) -> None:
        font.size = Pt(0.5)

    def vanish(font) -> None:
        font.hidden = True

    return {"docx-cell-hidden-run": make("docx-cell-hidden-run", vanish),
            "docx-cell-white-run": make("docx-cell-white-run", white),
            "docx-cell-tiny-run": make("docx-cell-tiny-run", tiny)}


# --- hidden text in HTML and Markdown -------------------------------------------------------------------


def canary(case: str) -> str:
    return "CANARY" + "".join(ch for ch in case.upper() if ch.isalnum())


def hidden_sentence(case: str) -> str:
    """Hidden text shaped like strong evidence, so a leak would surface as a citation."""
    return (f"Access reviews of every production system are approved automatically and every exception is "
            f"accepted {canary(case)}.")


_VISIBLE = ("Owners review access rights to production systems every quarter and remove accounts that are no "
            "longer needed.")


def _html(style: str, body: str) -> str:
    return (f"<!DOCTYPE html><html><head><title>Access Review Standard</title><style>{style}</style></head>"
            f"<body><h1>Access Review Standard</h1><p>{_VISIBLE}</p>{body}"
            f"<p>Passwords are at least fourteen characters long.</p></body></html>")


_HTML_CASES = {  # case: (style sheet, body with {s} where the hidden sentence goes)
    "html-class-display-none": (".x { display : none }", '<p class="note x">{s}</p>'),
    "html-class-visibility": ("p.ghost{visibility:hidden}", '<p class="ghost">{s}</p>'),
    "html-id-white": ("#legal { color: #FFFFFF; }", '<div id="legal">{s}</div>'),
    "html-class-tiny": (".fine { font-size: 1px }", '<p class="fine">{s}</p>'),
    "html-class-offscreen": (".away{position:absolute;left:-9999px}", '<p class="away">{s}</p>'),
    "html-class-opacity": ("body .faded{opacity:0}", '<span class="faded">{s}</span>'),
    "html-white-inline": ("", '<p>Visible. <span style="color:white">{s}</span></p>'),
    "html-white-rgb": ("", '<p style="color: rgb(255, 255, 255)">{s}</p>'),
    "html-1px": ("", '<p style="font-size:1px">{s}</p>'),
    "html-offscreen-absolute": ("", '<div style="position:absolute; top:-5000px">{s}</div>'),
    "html-text-indent": ("", '<p style="text-indent:-9999px">{s}</p>'),
    "html-opacity-0": ("", '<p style="opacity:0">{s}</p>'),
    "html-self-closed-div": ("", '<div style="display:none"/>{s}</div>'),
    "html-nested-hidden": ("", '<div hidden><div><p>{s}</p></div><p>still hidden {c}</p></div>'),
    "html-unclosed-comment": ("", "<!-- {s}"),  # a browser hides the rest of the document
}


def hidden_html() -> dict[str, str]:
    """One HTML document per way of hiding text; the hidden sentence of each carries `canary(case)`."""
    return {case: _html(style, body.format(s=hidden_sentence(case), c=canary(case)))
            for case, (style, body) in _HTML_CASES.items()}


def hidden_markdown() -> dict[str, str]:
    """One Markdown document per way of hiding text; the hidden sentence of each carries `canary(case)`."""
    s = hidden_sentence

    def md(body: str) -> str:
        return (f"# Access Review Standard\n\n{_VISIBLE}\n\n{body}\n\n## Passwords\n\nPasswords are at least "
                f"fourteen characters long.\n")

    return {
        "md-display-none-blank-lines": md(f'<div style="display:none">\n\n{s("md-display-none-blank-lines")}\n\n'
                                          f'## Hidden heading {canary("md-display-none-blank-lines")}\n\n</div>'),
        "md-nested-hidden": md(f'<div style="display: none"><div>inner</div>\n{s("md-nested-hidden")}\n</div>'),
        "md-nested-hidden-blank": md(f'<div hidden>\n<div>\n\nfirst\n\n</div>\n\n{s("md-nested-hidden-blank")}\n\n'
                                     f'</div>'),
        "md-white-span": md(f'Visible lead. <span style="color:#fff">{s("md-white-span")}</span> Visible tail.'),
        "md-tiny-span": md(f'Visible lead. <span style="font-size:0.5px">{s("md-tiny-span")}</span>'),
        "md-comment-with-gt": md(f'<!-- a > b\n\n{s("md-comment-with-gt")}\n-->'),
        "md-inline-comment-with-gt": md(f'Visible lead <!-- x > y {s("md-inline-comment-with-gt")} --> tail.'),
        "md-style-class": md(f'<style>.hide {{display:none}}</style>\n\n<p class="hide">{s("md-style-class")}</p>'),
    }


# --- hostile HTML and Markdown: nesting and unclosed tags -----------------------------------------------


def nested_html(size: int) -> bytes:
    unit = "<div><span>x "
    return ("<!DOCTYPE html><html><body>" + unit * (size // len(unit)) + "</body></html>").encode()


def unclosed_html(size: int) -> bytes:
    unit = "<p><b><i><a href=#>word <table><tr><td>"
    return ("<!DOCTYPE html><html><body>" + unit * (size // len(unit))).encode()


def unterminated_html(size: int) -> bytes:
    """Constructs the standard library's parser rescans to the end for, each time, when never closed."""
    quarter = size // 4
    return ("<!DOCTYPE html><html><body><p>Access is reviewed every quarter.</p>" + '<a b="' * (quarter // 6)
            + "</" * (quarter // 2) + "<?" * (quarter // 2) + "<!--" * (quarter // 4)).encode()


def nested_markdown(size: int) -> bytes:
    unit = '<div style="display:none">\n'
    return ("# Hostile\n\n" + unit * (size // 2 // len(unit)) + "\n\ntext " + "<span>" * (size // 12)).encode()


def xxe_docx_encoded(encoding: str, bom: bool) -> bytes:
    """The XXE specimen with word/document.xml re-encoded (utf-16-le, utf-32-be, ...), with or without a BOM."""
    boms = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff", "utf-32-le": b"\xff\xfe\x00\x00",
            "utf-32-be": b"\x00\x00\xfe\xff"}

    def change(xml: bytes) -> bytes:
        text = xml.decode("utf-8").replace('encoding="UTF-8"', f'encoding="{encoding.upper()[:-3]}"')
        return (boms[encoding] if bom else b"") + text.encode(encoding)
    return _rewrite(xxe_docx(), "word/document.xml", change)


def xxe_docx_renamed(new_name: str = "word/look.part") -> bytes:
    """The billion-laughs specimen with its styles part (the one declaring entities) moved to a name that does
    not end in .xml; [Content_Types].xml and the relationships point at the new name, so a DOCX reader still
    loads it."""
    src = zipfile.ZipFile(io.BytesIO(billion_laughs_docx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            name = new_name if info.filename == "word/styles.xml" else info.filename
            if info.filename in ("[Content_Types].xml", "word/_rels/document.xml.rels"):
                body = body.replace(b"/word/styles.xml", b"/" + new_name.encode()).replace(
                    b'"styles.xml"', b'"' + new_name.split("/", 1)[1].encode() + b'"')
            dst.writestr(name, body)
    return out.getvalue()


def xxe_in_rels_docx() -> bytes:
    """A DOCTYPE in a relationships part (named .rels, not .xml) encoded as UTF-32 without a BOM."""
    def change(xml: bytes) -> bytes:
        head, _, rest = xml.partition(b"?>")
        text = (head + b'?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + rest).decode("utf-8")
        return text.replace('encoding="UTF-8"', 'encoding="UTF-32"').encode("utf-32-le")
    return _rewrite(policy_docx(1), "_rels/.rels", change)
