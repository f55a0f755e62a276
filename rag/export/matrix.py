"""The control matrix (Section IV style): per SOC 2 criterion, the controls (whole statements of approved
evidence), the document and section they come from, and the citation. Markdown, Word table and XLSX."""

from __future__ import annotations

from pathlib import Path

from rag.context import Context
from rag.models import Status

COLUMNS = ["Criterion", "Title", "Control (approved statement)", "Document", "Section", "Citation", "Mapping"]


def rows(ctx: Context, workspace: str) -> list[list[str]]:
    """One row per approved statement; a criterion without approved evidence gets one row saying so."""
    from rag.narrate import SOC2, evidence
    from rag.review import list_proposals

    fw = ctx.catalog.framework(SOC2)
    approved = list_proposals(ctx, workspace, framework=SOC2, status=Status.approved.value, limit=10**6)
    by_clause = evidence(ctx, approved)
    out = []
    for c in fw.assessable():
        found = by_clause.get(c.id) or []
        if not found:
            out.append([c.id, c.title, "No approved evidence yet", "", "", "", ""])
        for st in found:
            first = st.citations[0]
            out.append([c.id, c.title, st.text, first.document_name or "", " > ".join(first.heading_path),
                        "; ".join(cite_label(x) for x in st.citations), ", ".join(f"#{p}" for p in st.proposal_ids)])
    return out


def cite_label(c) -> str:
    return f"sha256 {c.document_sha256[:12]} chars {c.start}-{c.end}"


def markdown(table: list[list[str]], title: str) -> str:
    out = [f"# {title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(" ".join(str(v).split()).replace("|", "\\|") for v in row) + " |" for row in table]
    return "\n".join(out) + "\n"


def write_all(ctx: Context, workspace: str, folder: Path, title: str) -> list[Path]:
    from rag.export import narrative_docx, workbook

    table = rows(ctx, workspace)
    folder.mkdir(parents=True, exist_ok=True)
    md = folder / "control-matrix.md"
    md.write_text(markdown(table, title), encoding="utf-8")
    document = narrative_docx.new_document(title, "Per criterion, the approved statements that implement it.")
    narrative_docx.table(document, COLUMNS, table)
    document.save(str(folder / "control-matrix.docx"))
    workbook.write(folder / "control-matrix.xlsx", {"Control matrix": (COLUMNS, table)})
    return [md, folder / "control-matrix.docx", folder / "control-matrix.xlsx"]
