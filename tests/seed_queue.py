"""A large review queue, fast: a few small policies ingested for real, then proposals with verified citations
written straight through the store (as a mapping run would leave them), spread over the four frameworks,
methods and confidences."""

from __future__ import annotations

from sqlalchemy import insert, select

from rag.ingest.pipeline import ingest_bytes
from rag.models import utcnow
from rag.store import CitationRow, PassageRow, ProposalRow, VersionRow

TOPICS = ["access control", "incident response", "encryption", "change management", "vendor risk",
          "backup and recovery"]
METHODS = ["offline", "llm", "crosswalk"]


def policy(topic: str) -> str:
    return (f"# {topic.title()} Policy\n\n## Purpose\n\nThis policy sets out how the company manages {topic} for "
            f"every production system it runs.\n\n## Requirements\n\nOwners review {topic} controls every "
            f"quarter and record the result in the register.\n")


def seed(ctx, workspace: str, n: int) -> dict[str, int]:
    """`n` proposals in `workspace`; returns {document name: id}."""
    docs = {}
    for topic in TOPICS:
        name = topic.replace(" ", "-") + "-policy.md"
        docs[name] = ingest_bytes(ctx, workspace, name, policy(topic).encode()).document_id
    clauses = [(key, c.id) for key in ctx.catalog.primary() for c in ctx.catalog.framework(key).assessable()]
    with ctx.store.session(write=True) as s:
        cited = {}
        for doc_id in docs.values():
            version = s.scalar(select(VersionRow).where(VersionRow.document_id == doc_id))
            passage = s.scalars(select(PassageRow).where(PassageRow.version_id == version.id)
                                .order_by(PassageRow.seq)).all()[-1]
            cited[doc_id] = (version, passage)
        now, rows = utcnow(), []
        for i in range(n):
            framework, clause_id = clauses[i % len(clauses)]
            doc_id = list(docs.values())[(i // len(clauses)) % len(docs)]
            version, _ = cited[doc_id]
            rows.append({"workspace": workspace, "framework": framework, "clause_id": clause_id,
                         "document_id": doc_id, "version_id": version.id, "score": 1.0,
                         "confidence": round(0.2 + 0.75 * ((i * 37) % 100) / 100, 4), "coverage": "partial",
                         "rationale": "seeded", "method": METHODS[i % 3], "status": "proposed",
                         "usage": {}, "drift": {}, "corpus_version": ctx.catalog.version, "created_at": now,
                         "updated_at": now})
        s.execute(insert(ProposalRow), rows)
        made = s.execute(select(ProposalRow.id, ProposalRow.document_id)
                         .where(ProposalRow.workspace == workspace)).all()
        citations = []
        for pid, doc_id in made:
            version, passage = cited[doc_id]
            start = passage.start + version.text[passage.start:passage.end].index("Owners review")
            end = version.text.index(".", start) + 1
            citations.append({"proposal_id": pid, "passage_id": passage.id, "document_sha256": version.sha256,
                              "start": start, "end": end, "quote": version.text[start:end]})
        s.execute(insert(CitationRow), citations)
    return docs
