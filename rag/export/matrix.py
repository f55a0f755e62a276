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


def write_all(ctx: Context, workspace: str, folder: Path, title: str) -> list[Path]:
    from rag.export.workbook import write_table

    return write_table(folder, "control-matrix", title, "Per SOC 2 criterion, the approved statements that "
                       "implement it, the document and section they come from, and their citations.", COLUMNS,
                       rows(ctx, workspace))
