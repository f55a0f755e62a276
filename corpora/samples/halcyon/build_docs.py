"""Render two Halcyon sample policies from Markdown sources into binary formats.

    sources/business-continuity-plan.md  ->  policies/business-continuity-plan.docx   (python-docx)
    sources/encryption-standard.md       ->  policies/encryption-standard.pdf         (reportlab)

Run from anywhere:  /tmp/venv/bin/python corpora/samples/halcyon/build_docs.py
Output is deterministic (fixed metadata dates, reportlab invariant mode), so re-running yields identical files.
Only the Markdown this folder uses is understood: #/##/### headings, "-" bullets, "1." numbered items,
pipe tables and **bold** spans; any other line is a paragraph.
"""
import datetime
import io
import re
import zipfile
from pathlib import Path

from docx import Document
from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

HERE = Path(__file__).resolve().parent
AUTHOR = "Halcyon Labs, Inc."
FIXED_DATE = datetime.datetime(2025, 3, 1, 9, 0, 0)
BOLD = re.compile(r"\*\*(.+?)\*\*")


def blocks(md):
    """Yield (kind, payload): ("h", (level, text)), ("ul", text), ("ol", (number, text)), ("table", rows), ("p", text)."""
    table = []
    for line in md.splitlines() + [""]:
        line = line.strip()
        if line.startswith("|"):
            if not re.fullmatch(r"\|[\s|:-]+\|", line):
                table.append([c.strip() for c in line.strip("|").split("|")])
            continue
        if table:
            yield "table", table
            table = []
        if not line:
            continue
        if m := re.match(r"(#{1,3}) (.*)", line):
            yield "h", (len(m.group(1)), m.group(2))
        elif line.startswith("- "):
            yield "ul", line[2:]
        elif m := re.match(r"(\d+)\. (.*)", line):
            yield "ol", (m.group(1), m.group(2))
        else:
            yield "p", line


def add_runs(par, text):
    for i, part in enumerate(BOLD.split(text)):
        if part:
            par.add_run(part).bold = i % 2 == 1


def build_docx(src, dest):
    doc = Document()
    for kind, data in blocks(src.read_text(encoding="utf-8")):
        if kind == "h":
            doc.add_heading(data[1], level=data[0])
        elif kind == "table":
            tbl = doc.add_table(rows=len(data), cols=len(data[0]), style="Table Grid")
            for r, row in enumerate(data):
                for c, cell in enumerate(row):
                    add_runs(tbl.cell(r, c).paragraphs[0], f"**{cell}**" if r == 0 else cell)
        elif kind == "ol":  # literal numbers: Word's List Number would run on across sections
            add_runs(doc.add_paragraph(style="List Paragraph"), f"{data[0]}. {data[1]}")
        else:
            add_runs(doc.add_paragraph(style="List Bullet" if kind == "ul" else None), data)
    props = doc.core_properties
    props.author = props.last_modified_by = AUTHOR
    props.title = doc.paragraphs[0].text
    props.created = props.modified = FIXED_DATE
    props.revision = 1
    buf = io.BytesIO()
    doc.save(buf)
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():  # fixed entry timestamps so the bytes are reproducible
            zout.writestr(zipfile.ZipInfo(info.filename, FIXED_DATE.timetuple()[:6]), zin.read(info),
                          zipfile.ZIP_DEFLATED)


def build_pdf(src, dest):
    ss = getSampleStyleSheet()
    styles = {1: ss["Title"], 2: ss["Heading2"], 3: ss["Heading3"]}
    body, cell = ss["BodyText"], ss["BodyText"].clone("cell", fontSize=8.5, leading=10.5)
    story, items, title = [], [], None

    def inline(text):
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return BOLD.sub(r"<b>\1</b>", re.sub(r"`(.+?)`", r"<font face='Courier'>\1</font>", text))

    def flush():
        if items:
            kind = items[0][0]
            texts = [d if kind == "ul" else d[1] for _, d in items]
            start = "\u2022" if kind == "ul" else items[0][1][0]
            story.append(ListFlowable([ListItem(Paragraph(inline(t), body)) for t in texts],
                                      bulletType="bullet" if kind == "ul" else "1", start=start, leftIndent=18,
                                      bulletFormat=None if kind == "ul" else "%s."))
            items.clear()

    for kind, data in blocks(src.read_text(encoding="utf-8")):
        if kind in ("ul", "ol"):
            if items and items[0][0] != kind:
                flush()
            items.append((kind, data))
            continue
        flush()
        if kind == "h":
            title = title or data[1]
            story.append(Paragraph(inline(data[1]), styles[data[0]]))
        elif kind == "table":
            rows = [[Paragraph(inline(c), cell) for c in row] for row in data]
            tbl = Table(rows, repeatRows=1)
            tbl.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                                     ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                                     ("VALIGN", (0, 0), (-1, -1), "TOP")]))
            story += [tbl, Spacer(1, 6)]
        else:
            story.append(Paragraph(inline(data), body))
    flush()
    SimpleDocTemplate(str(dest), pagesize=LETTER, title=title, author=AUTHOR, subject=title,
                      leftMargin=inch, rightMargin=inch, topMargin=inch, bottomMargin=inch,
                      invariant=1).build(story)


if __name__ == "__main__":
    build_docx(HERE / "sources/business-continuity-plan.md", HERE / "policies/business-continuity-plan.docx")
    build_pdf(HERE / "sources/encryption-standard.md", HERE / "policies/encryption-standard.pdf")
    print("wrote policies/business-continuity-plan.docx and policies/encryption-standard.pdf")
