"""Drift: what a document's new current version does to the mappings that cite it.

A proposal whose quotes all still occur verbatim in the current version moves to it (re-anchored); any other
goes back to review, with the quotes that disappeared recorded. `apply` runs inside the transaction that
makes the version current, so a crash can never leave an approval standing on text that is gone;
`reconcile` finds, from the store alone, any live proposal that does not point at its document's current
version (a database written before drift was transactional) and applies the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from rag import audit
from rag.citations import quote_citation
from rag.corpus import current_version_row, current_versions, passages_of
from rag.models import Citation, Status, utcnow
from rag.store import CitationRow, ProposalRow

LIVE = (Status.proposed.value, Status.approved.value, Status.needs_review.value)


@dataclass
class DriftReport:
    reanchored: list[int] = field(default_factory=list)
    needs_review: list[int] = field(default_factory=list)

    def merge(self, other: "DriftReport") -> None:
        self.reanchored += other.reanchored
        self.needs_review += other.needs_review


def state(row: ProposalRow) -> dict:
    return {"status": row.status, "coverage": row.coverage, "confidence": row.confidence,
            "citations": [{"passage_id": c.passage_id, "start": c.start, "end": c.end} for c in row.citations]}


def citation_rows(citations: list[Citation]) -> list[CitationRow]:
    return [CitationRow(passage_id=c.passage_id, document_sha256=c.document_sha256, start=c.start, end=c.end,
                        quote=c.quote, flags=c.flags) for c in citations]


def apply(s: Session, workspace: str, document_id: int, actor: str = "ctrlmap") -> DriftReport:
    """Move the document's live proposals to its current version, or send them back to review."""
    report = DriftReport()
    version = current_version_row(s, workspace, document_id)
    passages = passages_of(s, version)
    rows = s.scalars(select(ProposalRow).options(selectinload(ProposalRow.citations)).where(
        ProposalRow.workspace == workspace, ProposalRow.document_id == document_id,
        ProposalRow.version_id != version.id, ProposalRow.status.in_(LIVE)))
    for row in rows:
        before = state(row)
        moved, missing = [], []
        for c in row.citations:
            target = next((quote_citation(c.quote, p, version.text) for p in passages if c.quote in p.text), None)
            (moved.append(target) if target else missing.append(c.quote))
        old_sha = row.citations[0].document_sha256 if row.citations else None
        row.version_id = version.id
        row.citations.clear()
        row.citations.extend(citation_rows(moved))
        row.updated_at = utcnow()
        if missing or not moved:
            row.drift = {"from_sha256": old_sha, "to_sha256": version.sha256, "missing_quotes": missing,
                         "previous_status": before["status"], "at": utcnow().isoformat()}
            row.status = Status.needs_review.value
            report.needs_review.append(row.id)
            action = "proposal.drift"
        else:
            report.reanchored.append(row.id)
            action = "proposal.reanchor"
        s.flush()
        audit.append(s, workspace=workspace, actor=actor, action=action, target=f"proposal:{row.id}",
                     before=before, after=state(row), document_sha256=version.sha256,
                     missing_quotes=missing or None)
    return report


def stale_documents(s: Session, workspace: str) -> set[int]:
    """Documents with a live proposal that does not point at the document's current version."""
    current = current_versions(s, workspace)
    rows = s.execute(select(ProposalRow.document_id, ProposalRow.version_id).where(
        ProposalRow.workspace == workspace, ProposalRow.status.in_(LIVE)).distinct())
    return {doc for doc, version in rows if doc in current and current[doc].version_id != version}


def reconcile(store, workspace: str, actor: str = "ctrlmap") -> DriftReport:
    """Apply drift wherever the store shows a live proposal off its document's current version."""
    report = DriftReport()
    with store.session() as s:
        stale = stale_documents(s, workspace)
    for document_id in sorted(stale):
        with store.session(write=True) as s:
            report.merge(apply(s, workspace, document_id, actor))
    return report
