"""ISO/IEC 27001:2022 Statement of Applicability: every Annex A control (93) with applicable / not applicable,
the justification (the review's not-applicable decision, or why it is included), the implementation status
from the review, and the approved citations that implement it. Markdown, Word and XLSX."""

from __future__ import annotations

from pathlib import Path

from rag.context import Context

ISO = "iso27001-2022"
COLUMNS = ["Control", "Title", "Applicable", "Justification", "Implementation status", "Implemented by (approved "
           "citations)"]


def rows(ctx: Context, workspace: str) -> list[list[str]]:
    from rag.applicability import list_not_applicable
    from rag.export.matrix import cite_label
    from rag.review import list_proposals

    fw = ctx.catalog.framework(ISO)
    proposals = list_proposals(ctx, workspace, framework=ISO, limit=10**6)
    excluded = {d["clause_id"]: d for d in list_not_applicable(ctx, workspace) if d.get("framework") == ISO}
    out = []
    for c in (c for c in fw.clauses if c.kind == "control" and c.id.startswith("A.")):
        mine = [p for p in proposals if p.clause_id == c.id]
        approved = [p for p in mine if p.status.value == "approved"]
        if c.id in excluded:
            d = excluded[c.id]
            out.append([c.id, c.title, "No", f"{d['reason']} (decided by {d.get('actor', '')}, "
                        f"{str(d.get('at', ''))[:10]})", "Not applicable", ""])
            continue
        documents = sorted({p.document_name for p in approved})
        why = (f"Included to treat information security risk; implemented by {', '.join(documents)}."
               if documents else "Included: no exclusion decision recorded.")
        cited = "; ".join(f"{p.document_name} ({cite_label(x)})" for p in approved for x in p.citations)
        out.append([c.id, c.title, "Yes", why, _status(approved, mine), cited])
    return out


def _status(approved, mine) -> str:
    if any(p.coverage.value == "full" for p in approved):
        return "Implemented"
    if approved:
        return "Partially implemented"
    if any(p.status.value in ("proposed", "needs-review") for p in mine):
        return "Evidence awaiting review"
    return "Not yet evidenced"


def write_all(ctx: Context, workspace: str, folder: Path, title: str) -> list[Path]:
    from rag.export.workbook import write_table

    table = rows(ctx, workspace)
    applicable = sum(r[2] == "Yes" for r in table)
    lead = (f"ISO/IEC 27001:2022 Annex A: {len(table)} controls, {applicable} applicable, "
            f"{len(table) - applicable} not applicable.")
    return write_table(folder, "statement-of-applicability", title, lead, COLUMNS, table)
