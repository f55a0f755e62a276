"""Proposals as CSV and JSON rows, and the canonical texts citations point into."""

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


def write_csv(proposals: list[Proposal], path: Path) -> Path:
    fields = ["id", "framework", "clause_id", "document", "status", "confidence", "coverage", "method", "quote",
              "document_sha256", "start", "end", "rationale"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for p in proposals:
            row = proposal_row(p)
            first = row["citations"][0] if row["citations"] else {}
            writer.writerow({**{k: row.get(k) for k in fields if k in row}, "quote": first.get("quote", ""),
                             "document_sha256": first.get("document_sha256", ""), "start": first.get("start"),
                             "end": first.get("end")})
    return path


def write_texts(ctx: Context, shas: set[str], folder: Path) -> int:
    """`texts/<sha256>.txt`: the canonical text of each cited version, so anyone can check a citation."""
    from rag.documents import texts_by_sha

    folder.mkdir(parents=True, exist_ok=True)
    texts = texts_by_sha(ctx, shas)
    for sha, text in texts.items():
        (folder / f"{sha}.txt").write_bytes(text.encode("utf-8"))
    return len(texts)
