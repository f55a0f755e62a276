"""Review: storing proposals, people's decisions, crosswalk propagation and drift.

Every change of a proposal's state is written with its audit event in the same transaction. Only a person's
decision (`decide`) ever sets a proposal to approved; everything automatic produces `proposed` or
`needs-review`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, joinedload, selectinload

from rag import audit
from rag.citations import quote_citation
from rag.instructions import confirmed
from rag.context import Context
from rag.errors import Conflict, InvalidInput, NotFound
from rag.mapping import MappingRun
from rag.models import Action, Citation, Coverage, Decision, Method, Proposal, Status, utcnow
from rag.store import (CitationRow, DecisionRow, DocumentRow, EvidenceRow, PassageRow, ProposalRow, VersionRow,
                       proposal_from_row)

SETTLED = {Status.approved.value, Status.rejected.value, Status.needs_review.value}
KEPT_METHODS = {Method.crosswalk.value, Method.manual.value}  # a mapping run never withdraws these
EVIDENCE_KEPT = 10  # best documents per clause whose confidence is stored, proposed or not


def _commit_checkpoint(ctx: Context) -> None:
    with ctx.store.session() as s:
        audit.checkpoint(s, ctx.settings.data_dir / "audit-head.json")


def _state(row: ProposalRow) -> dict:
    return {"status": row.status, "coverage": row.coverage, "confidence": row.confidence,
            "citations": [{"passage_id": c.passage_id, "start": c.start, "end": c.end} for c in row.citations]}


def _citation_rows(citations: list[Citation]) -> list[CitationRow]:
    return [CitationRow(passage_id=c.passage_id, document_sha256=c.document_sha256, start=c.start, end=c.end,
                        quote=c.quote, flags=c.flags) for c in citations]


# --- saving a mapping run -----------------------------------------------------------------------------


@dataclass
class SaveStats:
    created: int = 0
    updated: int = 0
    kept: int = 0
    withdrawn: int = 0


def save_run(ctx: Context, workspace: str, run: MappingRun, actor: str = "ctrlmap") -> SaveStats:
    """Upsert the run's proposals. Decided proposals are never overwritten; undecided ones the run no longer
    makes are withdrawn."""
    stats = SaveStats()
    clause_keys = {tuple(k.split(":", 1)) for k in run.rankings}
    with ctx.store.session(write=True) as s:
        existing = {(r.framework, r.clause_id, r.document_id): r for r in s.scalars(
            select(ProposalRow).options(selectinload(ProposalRow.citations))
            .where(ProposalRow.workspace == workspace, ProposalRow.framework.in_(run.frameworks)))}
        versions = _current_versions(s, {p.document_id for p in run.proposals})
        made = set()
        for p in run.proposals:
            key = (p.framework, p.clause_id, p.document_id)
            made.add(key)
            row = existing.get(key)
            if row is not None and (row.status in SETTLED or row.method == Method.manual.value):
                stats.kept += 1
                continue
            if row is None:
                row = ProposalRow(workspace=workspace, framework=p.framework, clause_id=p.clause_id,
                                  document_id=p.document_id, status=Status.proposed.value, created_at=utcnow())
                s.add(row)
                stats.created += 1
            else:
                row.citations.clear()
                stats.updated += 1
            row.version_id = versions[p.document_id]
            row.score, row.confidence, row.coverage = p.score, p.confidence, p.coverage.value
            row.rationale, row.method, row.model = p.rationale, p.method.value, p.model
            row.prompt_version, row.usage, row.corpus_version = p.prompt_version, p.usage, p.corpus_version
            row.run_id, row.updated_at = run.run_id, utcnow()
            row.citations.extend(_citation_rows(p.citations))
        for key, row in existing.items():
            if (key[0], key[1]) in clause_keys and key not in made and row.status == Status.proposed.value \
                    and row.method not in KEPT_METHODS:
                s.delete(row)
                stats.withdrawn += 1
        _save_evidence(s, workspace, run)
        audit.append(s, workspace=workspace, actor=actor, action="mapping.run", target=f"run:{run.run_id}",
                     after=stats.__dict__, frameworks=run.frameworks, corpus_version=ctx.catalog.version,
                     **{k: v for k, v in run.stats.items() if k in ("model", "prompt_version", "scorer")})
    _commit_checkpoint(ctx)
    return stats


def _save_evidence(s: Session, workspace: str, run: MappingRun) -> None:
    """Replace the stored evidence of the run's clauses with their best documents in this run."""
    ranked = [(*key.split(":", 1), ranking) for key, ranking in run.rankings.items()]
    by_framework: dict[str, list[str]] = {}
    for framework, clause_id, _ in ranked:
        by_framework.setdefault(framework, []).append(clause_id)
    for framework, ids in by_framework.items():
        s.execute(delete(EvidenceRow).where(EvidenceRow.workspace == workspace, EvidenceRow.framework == framework,
                                            EvidenceRow.clause_id.in_(ids)))
    rows = [{"workspace": workspace, "framework": framework, "clause_id": clause_id, "document_id": doc,
             "rank": rank, "confidence": round(conf, 4), "run_id": run.run_id}
            for framework, clause_id, ranking in ranked for rank, (doc, conf) in enumerate(ranking[:EVIDENCE_KEPT], 1)]
    if rows:
        s.execute(insert(EvidenceRow), rows)


def _own_confidence(s: Session, workspace: str, clause, document_id: int) -> tuple[float | None, str]:
    """What the pipeline itself gave this document for this clause in the latest run, and how to say it."""
    stored = s.execute(select(EvidenceRow.document_id, EvidenceRow.rank, EvidenceRow.confidence).where(
        EvidenceRow.workspace == workspace, EvidenceRow.framework == clause.framework,
        EvidenceRow.clause_id == clause.id)).all()
    if not stored:
        return None, f"No mapping run has scored {clause.id} yet."
    mine = next((r for r in stored if r.document_id == document_id), None)
    if mine is not None:
        return mine.confidence, (f"ctrlmap's own confidence that this document meets {clause.id}: "
                                 f"{mine.confidence:.2f} (its rank {mine.rank} for the clause).")
    floor = min(r.confidence for r in stored)
    return floor, (f"ctrlmap did not rank this document among the {len(stored)} best for {clause.id} "
                   f"(confidence below {floor:.2f}).")


def _current_versions(s: Session, document_ids: set[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for doc_id, version_id, number in s.execute(select(VersionRow.document_id, VersionRow.id, VersionRow.number)
                                                .where(VersionRow.document_id.in_(document_ids))):
        if doc_id not in out or number > out[doc_id][1]:
            out[doc_id] = (version_id, number)
    return {k: v[0] for k, v in out.items()}


# --- reading ------------------------------------------------------------------------------------------


def _load(s: Session, workspace: str, proposal_id: int) -> ProposalRow:
    row = s.scalar(select(ProposalRow).options(*_EAGER)
                   .where(ProposalRow.id == proposal_id, ProposalRow.workspace == workspace))
    if row is None:
        raise NotFound(f"no proposal {proposal_id} in workspace {workspace}", target=f"proposal:{proposal_id}")
    return row


_EAGER = (selectinload(ProposalRow.citations), joinedload(ProposalRow.document), joinedload(ProposalRow.version))


def _to_models(s: Session, rows: list[ProposalRow]) -> list[Proposal]:
    ids = {c.passage_id for r in rows for c in r.citations}
    passages = {p.id: p for p in s.scalars(select(PassageRow).where(PassageRow.id.in_(ids)))} if ids else {}
    return [proposal_from_row(r, passages) for r in rows]


def list_proposals(ctx: Context, workspace: str, *, framework: str | None = None, status: str | None = None,
                   clause_id: str | None = None, document_id: int | None = None, min_confidence: float | None = None,
                   limit: int = 1000, offset: int = 0, max_confidence: float | None = None) -> list[Proposal]:
    q = (select(ProposalRow).options(selectinload(ProposalRow.citations), selectinload(ProposalRow.document),
                                     selectinload(ProposalRow.version))
         .where(ProposalRow.workspace == workspace))
    if framework:
        q = q.where(ProposalRow.framework == framework)
    if status:
        q = q.where(ProposalRow.status == status)
    if clause_id:
        q = q.where(ProposalRow.clause_id == clause_id)
    if document_id:
        q = q.where(ProposalRow.document_id == document_id)
    if min_confidence is not None:
        q = q.where(ProposalRow.confidence >= min_confidence)
    if max_confidence is not None:
        q = q.where(ProposalRow.confidence <= max_confidence)
    q = q.order_by(ProposalRow.framework, ProposalRow.clause_id, ProposalRow.confidence.desc())
    with ctx.store.session() as s:
        return _to_models(s, list(s.scalars(q.limit(limit).offset(offset))))


def get_proposal(ctx: Context, workspace: str, proposal_id: int) -> Proposal:
    with ctx.store.session() as s:
        return _to_models(s, [_load(s, workspace, proposal_id)])[0]


def status_counts(ctx: Context, workspace: str) -> dict[str, int]:
    """How many proposals of the workspace are in each status."""
    with ctx.store.session() as s:
        rows = s.execute(select(ProposalRow.status, func.count(ProposalRow.id))
                         .where(ProposalRow.workspace == workspace).group_by(ProposalRow.status))
        return {status: n for status, n in rows}


def history(ctx: Context, workspace: str, proposal_id: int) -> list[Decision]:
    """The decisions people made on a proposal, oldest first."""
    with ctx.store.session() as s:
        rows = s.scalars(select(DecisionRow).where(DecisionRow.workspace == workspace,
                                                   DecisionRow.proposal_id == proposal_id).order_by(DecisionRow.id))
        return [Decision(id=r.id, proposal_id=r.proposal_id, actor=r.actor, action=Action(r.action),
                         comment=r.comment, before=r.before, after=r.after, at=r.at) for r in rows]


def derived(ctx: Context, workspace: str, proposal_id: int) -> list[Proposal]:
    """Proposals suggested through crosswalks from this one's approval."""
    with ctx.store.session() as s:
        rows = s.scalars(select(ProposalRow).options(*_EAGER).where(ProposalRow.workspace == workspace,
                                                                    ProposalRow.origin_proposal_id == proposal_id))
        return _to_models(s, list(rows))


def derived_ids(ctx: Context, workspace: str, proposal_id: int) -> set[int]:
    with ctx.store.session() as s:
        return set(s.scalars(select(ProposalRow.id).where(ProposalRow.workspace == workspace,
                                                          ProposalRow.origin_proposal_id == proposal_id)))


# --- decisions ----------------------------------------------------------------------------------------


@dataclass
class Edit:
    coverage: Coverage | None = None
    rationale: str | None = None
    quotes: list[str] | None = None  # replace the citations with these quotes (each must verify)


def decide(ctx: Context, workspace: str, proposal_id: int, actor: str, action: Action, comment: str = "",
           edit: Edit | None = None) -> Proposal:
    """A person's decision on one proposal, recorded with its audit event in one transaction."""
    if not actor:
        raise InvalidInput("a decision needs the name of the person making it")
    with ctx.store.session(write=True) as s:
        row = _load(s, workspace, proposal_id)
        before = _state(row)
        if action == Action.approve:
            if not row.citations:
                raise Conflict("a proposal without a verified citation cannot be approved",
                               target=f"proposal:{proposal_id}")
            row.status = Status.approved.value
        elif action == Action.reject:
            row.status = Status.rejected.value
        elif action == Action.reopen:
            row.status = Status.proposed.value
        elif action == Action.edit:
            _apply_edit(s, row, edit or Edit())
        row.updated_at = utcnow()
        after = _state(row)
        s.add(DecisionRow(workspace=workspace, proposal_id=row.id, actor=actor, action=action.value,
                          comment=comment, before=before, after=after))
        version = s.get(VersionRow, row.version_id)
        audit.append(s, workspace=workspace, actor=actor, action=f"proposal.{action.value}",
                     target=f"proposal:{row.id}", before=before, after=after, comment=comment or None,
                     clause=f"{row.framework}:{row.clause_id}", document_sha256=version.sha256,
                     model=row.model, prompt_version=row.prompt_version)
        if action == Action.approve:
            propagate(ctx, s, workspace, row, actor)
        s.flush()
        result = _to_models(s, [row])[0]
    _commit_checkpoint(ctx)
    return result


def _apply_edit(s: Session, row: ProposalRow, edit: Edit) -> None:
    if edit.coverage is not None:
        row.coverage = Coverage(edit.coverage).value
    if edit.rationale is not None:
        row.rationale = edit.rationale
    if edit.quotes is not None:
        version = s.get(VersionRow, row.version_id)
        passages = [r for r in s.scalars(select(PassageRow).where(PassageRow.version_id == version.id))
                    if not r.hidden]
        made = []
        for quote in edit.quotes:
            citation = _find_quote(quote, passages, version)
            if citation is None:
                raise InvalidInput(f"the quote does not occur verbatim in {row.document.name}: {quote[:80]!r}")
            made.append(citation.model_copy(update={"flags": confirmed(citation.flags)}))  # typed by a reviewer
        if not made:
            raise InvalidInput("an edit that replaces citations needs at least one quote")
        row.citations.clear()
        row.citations.extend(_citation_rows(made))


def _find_quote(quote: str, passages: list[PassageRow], version: VersionRow) -> Citation | None:
    from rag.store import passage_from_row

    for prow in passages:
        citation = quote_citation(quote, passage_from_row(prow, version), version.text)
        if citation is not None:
            return citation
    return None


def propagate(ctx: Context, s: Session, workspace: str, row: ProposalRow, actor: str) -> list[int]:
    """Map once, satisfy many: suggest the approved evidence for crosswalk-linked clauses (still proposals)."""
    made = []
    for clause in ctx.catalog.related(row.framework, row.clause_id):
        exists = s.scalar(select(ProposalRow.id).where(
            ProposalRow.workspace == workspace, ProposalRow.framework == clause.framework,
            ProposalRow.clause_id == clause.id, ProposalRow.document_id == row.document_id))
        if exists:
            continue
        own, said = _own_confidence(s, workspace, clause, row.document_id)
        confidence = row.confidence * 0.9 if own is None else min(row.confidence * 0.9, own)
        new = ProposalRow(workspace=workspace, framework=clause.framework, clause_id=clause.id,
                          document_id=row.document_id, version_id=row.version_id, score=row.score,
                          confidence=round(confidence, 4), coverage=Coverage.partial.value,
                          rationale=(f"Suggested through a crosswalk: the same evidence was approved for "
                                     f"{row.framework} {row.clause_id}. {said} "
                                     f"A reviewer must confirm it meets {clause.id}."),
                          method=Method.crosswalk.value, status=Status.proposed.value, model=None,
                          corpus_version=ctx.catalog.version, origin_proposal_id=row.id, created_at=utcnow())
        new.citations.extend(CitationRow(passage_id=c.passage_id, document_sha256=c.document_sha256,
                                         start=c.start, end=c.end, quote=c.quote) for c in row.citations)
        s.add(new)
        s.flush()
        made.append(new.id)
        audit.append(s, workspace=workspace, actor=actor, action="proposal.propagate", target=f"proposal:{new.id}",
                     after={"status": new.status, "method": new.method}, origin=f"proposal:{row.id}",
                     clause=f"{clause.framework}:{clause.id}")
    return made


# --- drift --------------------------------------------------------------------------------------------


@dataclass
class DriftReport:
    reanchored: list[int] = field(default_factory=list)
    needs_review: list[int] = field(default_factory=list)


def apply_drift(ctx: Context, workspace: str, document_id: int, actor: str = "ctrlmap") -> DriftReport:
    """After a new version of a document: proposals whose quotes still occur verbatim move to the new version;
    the others go back to review, with the quotes that disappeared recorded."""
    from rag.store import passage_from_row

    report = DriftReport()
    with ctx.store.session(write=True) as s:
        version = s.scalar(select(VersionRow).where(VersionRow.document_id == document_id)
                           .order_by(VersionRow.number.desc()).limit(1))
        passages = [passage_from_row(p, version) for p in s.scalars(
            select(PassageRow).where(PassageRow.version_id == version.id, PassageRow.hidden.is_(False)))]
        rows = s.scalars(select(ProposalRow).options(selectinload(ProposalRow.citations)).where(
            ProposalRow.workspace == workspace, ProposalRow.document_id == document_id,
            ProposalRow.version_id != version.id))
        for row in rows:
            before = _state(row)
            moved, missing = [], []
            for c in row.citations:
                target = next((quote_citation(c.quote, p, version.text) for p in passages
                               if c.quote in p.text), None)
                (moved.append(target) if target else missing.append(c.quote))
            old_sha = row.citations[0].document_sha256 if row.citations else None
            row.version_id = version.id
            row.citations.clear()
            row.citations.extend(_citation_rows(moved))
            if missing or not moved:
                row.drift = {"from_sha256": old_sha, "to_sha256": version.sha256, "missing_quotes": missing,
                             "previous_status": before["status"], "at": utcnow().isoformat()}
                row.status = Status.needs_review.value
                report.needs_review.append(row.id)
                action = "proposal.drift"
            else:
                report.reanchored.append(row.id)
                action = "proposal.reanchor"
            audit.append(s, workspace=workspace, actor=actor, action=action, target=f"proposal:{row.id}",
                         before=before, after=_state(row), document_sha256=version.sha256,
                         missing_quotes=missing or None)
    _commit_checkpoint(ctx)
    return report


def document_ids(ctx: Context, workspace: str) -> dict[str, int]:
    with ctx.store.session() as s:
        return dict(s.execute(select(DocumentRow.name, DocumentRow.id).where(DocumentRow.workspace == workspace)))

