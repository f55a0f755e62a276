"""Proposals as CSV, XLSX (one row per citation) and JSON, and the canonical texts citations point into."""

from __future__ import annotations

import csv
import json
from pathlib import Path


from rag.context import Context
from rag.models import Proposal


def proposal_row(p: Proposal) -> dict:
    return {"id": p.id, "framework": p.framework, "clause_id": p.clause_id, "document_id": p.document_id,
            "document": p.document_name, "status": p.status.value, "confidence": p.confidence,
            "coverage": p.coverage.value, "method": p.method.value, "rationale": p.rationale,
            "model": p.model, "prompt_version": p.prompt_version, "corpus_version": p.corpus_version,
            "citations": [{"document_sha256": c.document_sha256, "start": c.start, "end": c.end, "quote": c.quote,
                           "heading": " > ".join(c.heading_path), "page": c.page} for c in p.citations]}


def write_json(proposals: list[Proposal], path: Path) -> Path:
    path.write_text(json.dumps([proposal_row(p) for p in proposals], indent=1, ensure_ascii=False), encoding="utf-8")
    return path


CITATION_COLUMNS = ["id", "framework", "clause_id", "document", "status", "confidence", "coverage", "method",
                    "citation", "quote", "heading", "page", "document_sha256", "start", "end", "rationale"]


def citation_rows(proposals: list[Proposal]) -> list[list]:
    """One row per citation (a proposal without citations still gets one row, with the citation cells empty)."""
    out = []
    for p in proposals:
        row = proposal_row(p)
        head = [row[k] for k in ("id", "framework", "clause_id", "document", "status", "confidence", "coverage",
                                 "method")]
        for n, c in enumerate(row["citations"] or [{}], 1):
            out.append(head + [n if c else "", c.get("quote", ""), c.get("heading", ""), c.get("page"),
                               c.get("document_sha256", ""), c.get("start"), c.get("end"), row["rationale"]])
    return out


def write_csv(proposals: list[Proposal], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CITATION_COLUMNS)
        writer.writerows(citation_rows(proposals))
    return path


def write_xlsx(proposals: list[Proposal], path: Path) -> Path:
    from rag.export import workbook

    return workbook.write(path, {"Citations": (CITATION_COLUMNS, citation_rows(proposals))})


def write_texts(ctx: Context, shas: set[str], folder: Path) -> int:
    """`texts/<sha256>.txt`: the canonical text of each cited version, so anyone can check a citation."""
    from rag.corpus import texts_by_sha

    folder.mkdir(parents=True, exist_ok=True)
    texts = texts_by_sha(ctx, shas)
    for sha, text in texts.items():
        (folder / f"{sha}.txt").write_bytes(text.encode("utf-8"))
    return len(texts)
