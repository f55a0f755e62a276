"""XLSX workbooks (openpyxl): one sheet per table, bold frozen header, wrapped text, sensible widths; and one
table written as Markdown, Word and XLSX together."""

from __future__ import annotations

from pathlib import Path

WIDE = 80  # characters a long text column is given


def write(path: Path, sheets: dict[str, tuple[list[str], list[list]]]) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    book.remove(book.active)
    for name, (columns, rows) in sheets.items():
        sheet = book.create_sheet(name[:31])
        sheet.append(columns)
        for row in rows:
            sheet.append([_value(v) for v in row])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
        for i, col in enumerate(sheet.columns, 1):
            longest = max((len(str(c.value or "")) for c in col), default=10)
            sheet.column_dimensions[col[0].column_letter].width = min(max(10, longest + 2), WIDE)
            if longest > WIDE:
                for c in col[1:]:
                    c.alignment = Alignment(wrap_text=True, vertical="top")
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(str(path))
    return path


def _value(v):
    if v is None or isinstance(v, (int, float, str)):
        return v
    return str(v)


def markdown_table(columns: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)] + [
        "| " + " | ".join(" ".join(str(v if v is not None else "").split()).replace("|", "\\|") for v in row) + " |"
        for row in rows]


def write_table(folder: Path, stem: str, title: str, lead: str, columns: list[str], rows: list[list]) -> list[Path]:
    """`stem`.md, `stem`.docx (a real Word table) and `stem`.xlsx of one table."""
    from rag.export import narrative_docx

    folder.mkdir(parents=True, exist_ok=True)
    md = folder / f"{stem}.md"
    md.write_text("\n".join([f"# {title}", "", lead, "", *markdown_table(columns, rows)]) + "\n", encoding="utf-8")
    document = narrative_docx.new_document(title, lead)
    narrative_docx.landscape(document)
    narrative_docx.table(document, columns, [[str(v if v is not None else "") for v in r] for r in rows], 8.5)
    document.save(str(folder / f"{stem}.docx"))
    write(folder / f"{stem}.xlsx", {stem.replace("-", " ").capitalize(): (columns, rows)})
    return [md, folder / f"{stem}.docx", folder / f"{stem}.xlsx"]
