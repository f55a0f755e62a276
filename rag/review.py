"""Review: storing proposals, people's decisions, crosswalk propagation and drift.

Every change of a proposal's state is written with its audit event in the same transaction. Only a person's
decision (`decide`) ever sets a proposal to approved; everything automatic produces `proposed` or
`needs-review`. Deciding what a proposal already is (approving an approved one) records nothing, and `record`
says so; many decisions at once go through rag/queue.py, one `record` each.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, joinedload, selectinload

from rag import audit, drift, review_sql
from rag.citations import quote_citation
from rag.context import Context
from rag.corpus import current_version_row, current_versions, passage_from_row
from rag.errors import InvalidInput, NotFound
from rag.group_commit import GroupCommit
from rag.instructions import confirmed
from rag.mapping import MappingRun
from rag.rawsql import Tx
from rag.models import Action, Citation, Coverage, Decision, Method, Proposal, Status, utcnow
from rag.store import (DecisionRow, DocumentRow, EvidenceRow, PassageRow, ProposalRow, VersionRow,
                       proposal_from_row, proposal_of)

SETTLED = {Status.approved.value, Status.rejected.value, Status.needs_review.value}
KEPT_METHODS = {Method.crosswalk.value, Method.manual.value}  # a mapping run never supersedes these
EVIDENCE_KEPT = 10  # best documents per clause whose confidence is stored, proposed or not
_state, _citation_rows = drift.state, drift.citation_rows


_commit_checkpoint = audit.advance_checkpoint


# --- saving a mapping run -----------------------------------------------------------------------------


@dataclass
class SaveStats:
    created: int = 0
    updated: int = 0
    kept: int = 0
    superseded: int = 0


def save_run(ctx: Context, workspace: str, run: MappingRun, actor: str = "ctrlmap") -> SaveStats:
    """Store a run's proposals. The rule, so that results never jump without a trace:
    - a proposal a person decided, edited or reopened, or added by hand or through a crosswalk, is kept as is;
    - any other proposal the run makes is created, or updated (a superseded one comes back);
    - an undecided proposal the run no longer makes stays (its confidence refreshed) while its document is
      still among the clause's best documents in this run, or while the run proposes nothing else for the
      clause: new documents can outrank evidence, never make a clause lose it;
    - otherwise it is marked superseded, with an audit event. Nothing is deleted."""
    stats = SaveStats()
    with ctx.store.session(write=True) as s:
        existing = {(r.framework, r.clause_id, r.document_id): r for r in s.scalars(
            select(ProposalRow).options(selectinload(ProposalRow.citations))
            .where(ProposalRow.workspace == workspace, ProposalRow.framework.in_(run.frameworks)))}
        touched = set(s.scalars(select(DecisionRow.proposal_id).where(DecisionRow.workspace == workspace)))
        versions = current_versions(s, workspace, {p.document_id for p in run.proposals})
        made = set()
        for p in run.proposals:
            key = (p.framework, p.clause_id, p.document_id)
            made.add(key)
            row = existing.get(key)
            if row is not None and _kept(row, touched):
                stats.kept += 1
                continue
            if row is None:
                row = ProposalRow(workspace=workspace, framework=p.framework, clause_id=p.clause_id,
                                  document_id=p.document_id, created_at=utcnow())
                s.add(row)
                stats.created += 1
            else:
                row.citations.clear()
                stats.updated += 1
            _fill(row, p, versions[p.document_id].version_id, run.run_id)
        _settle_unmade(s, workspace, run, existing, made, touched, actor, stats)
        _save_evidence(s, workspace, run)
        audit.append(s, workspace=workspace, actor=actor, action="mapping.run", target=f"run:{run.run_id}",
                     after=stats.__dict__, frameworks=run.frameworks, corpus_version=ctx.catalog.version,
                     **{k: v for k, v in run.stats.items() if k in ("model", "prompt_version", "scorer")})
    _commit_checkpoint(ctx)
    return stats


def _kept(row: ProposalRow, touched: set[int]) -> bool:
    return row.status in SETTLED or row.method in KEPT_METHODS or row.id in touched


def _fill(row: ProposalRow, p: Proposal, version_id: int, run_id: str) -> None:
    row.version_id, row.status = version_id, Status.proposed.value
    row.score, row.confidence, row.coverage = p.score, p.confidence, p.coverage.value
    row.rationale, row.method, row.model = p.rationale, p.method.value, p.model
    row.prompt_version, row.usage, row.corpus_version = p.prompt_version, p.usage, p.corpus_version
    row.run_id, row.updated_at = run_id, utcnow()
    row.citations.extend(_citation_rows(p.citations))


def _settle_unmade(s: Session, workspace: str, run: MappingRun, existing: dict, made: set, touched: set[int],
                   actor: str, stats: SaveStats) -> None:
    """Undecided proposals of the run's clauses that the run did not make: kept or superseded (see save_run)."""
    proposed_clauses = {(f, c) for f, c, _ in made}
    for (framework, clause_id, doc), row in existing.items():
        ranking = run.rankings.get(f"{framework}:{clause_id}")
        if ranking is None or (framework, clause_id, doc) in made or row.status != Status.proposed.value \
                or _kept(row, touched):
            continue
        best = dict(ranking[:EVIDENCE_KEPT])
        if doc in best or (framework, clause_id) not in proposed_clauses:
            row.confidence = round(min(row.confidence, best.get(doc, row.confidence)), 4)
            stats.kept += 1
            continue
        before = _state(row)
        row.status, row.updated_at = Status.superseded.value, utcnow()
        stats.superseded += 1
        audit.append(s, workspace=workspace, actor=actor, action="proposal.supersede", target=f"proposal:{row.id}",
                     before=before, after=_state(row), run=run.run_id, clause=f"{framework}:{clause_id}",
                     reason="the run ranks other documents above this one for the clause")


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


# --- reading ------------------------------------------------------------------------------------------


def _load(s: Session, workspace: str, proposal_id: int) -> ProposalRow:
    """One proposal with its citations, document and version, in one query."""
    row = s.scalars(_LOAD_ONE.where(ProposalRow.id == proposal_id, ProposalRow.workspace == workspace)
                    ).unique().first()
    if row is None:
        raise NotFound(f"no proposal {proposal_id} in workspace {workspace}", target=f"proposal:{proposal_id}")
    return row


_EAGER = (selectinload(ProposalRow.citations), joinedload(ProposalRow.document), joinedload(ProposalRow.version))
_ONE_QUERY = (joinedload(ProposalRow.citations), *_EAGER[1:])  # a few rows: citations joined too (`.unique()`)
_LOAD_ONE = select(ProposalRow).options(*_ONE_QUERY)  # built once: building it costs as much as running it


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
        q = q.where(ProposalRow.framework == ctx.catalog.key(framework))
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


def get_proposals(ctx: Context, workspace: str, ids: list[int]) -> list[Proposal]:
    """The workspace's proposals with these ids, in this order (ids of other workspaces are left out)."""
    if not ids:
        return []
    with ctx.store.reads() as tx:
        return review_sql.proposals(tx, ids, workspace)


def mapped_frameworks(ctx: Context, workspace: str) -> set[str]:
    """Frameworks a mapping run has scored in the workspace (or that hold proposals)."""
    with ctx.store.session() as s:
        scored = set(s.scalars(select(EvidenceRow.framework).where(EvidenceRow.workspace == workspace).distinct()))
        return scored | set(s.scalars(select(ProposalRow.framework).where(ProposalRow.workspace == workspace)
                                      .distinct()))


def get_proposal(ctx: Context, workspace: str, proposal_id: int) -> Proposal:
    with ctx.store.reads() as tx:
        row = review_sql.one_row(tx, workspace, proposal_id)
        return proposal_of(row, row.citations)


def status_counts(ctx: Context, workspace: str) -> dict[str, int]:
    """How many proposals of the workspace are in each status."""
    with ctx.store.session() as s:
        rows = s.execute(select(ProposalRow.status, func.count(ProposalRow.id))
                         .where(ProposalRow.workspace == workspace).group_by(ProposalRow.status))
        return {status: n for status, n in rows}


def history(ctx: Context, workspace: str, proposal_id: int) -> list[Decision]:
    """The decisions people made on a proposal, oldest first."""
    with ctx.store.reads() as tx:
        return review_sql.history(tx, workspace, proposal_id)


def derived(ctx: Context, workspace: str, proposal_id: int) -> list[Proposal]:
    """Proposals suggested through crosswalks from this one's approval."""
    with ctx.store.reads() as tx:
        return review_sql.derived(tx, workspace, proposal_id)


@dataclass
class Detail:
    """What a reviewer sees when opening a proposal (`Store.reads`)."""

    proposal: Proposal
    texts: dict[str, str]  # the cited versions' texts (hidden text masked), by sha256
    decisions: list[Decision]
    derived: list[Proposal]


def detail(ctx: Context, workspace: str, proposal_id: int) -> Detail:
    with ctx.store.reads() as tx:
        row = review_sql.one_row(tx, workspace, proposal_id, decisions=True)
        proposal = proposal_of(row, row.citations)
        shas = {c.document_sha256 for c in proposal.citations}
        decisions = review_sql.history(tx, workspace, proposal_id, row)
        approved = any(d.action == Action.approve for d in decisions)  # only an approval suggests proposals
        return Detail(proposal, {sha: review_sql.version_text(tx, workspace, sha) for sha in shas}, decisions,
                      review_sql.derived(tx, workspace, proposal_id) if approved else [])


# --- decisions ----------------------------------------------------------------------------------------


Edit, Outcome = review_sql.Edit, review_sql.Outcome


def decide(ctx: Context, workspace: str, proposal_id: int, actor: str, action: Action, comment: str = "",
           edit: Edit | None = None) -> Proposal:
    """A person's decision on one proposal, recorded with its audit event in one transaction."""
    return record(ctx, workspace, proposal_id, actor, action, comment, edit).proposal


def record(ctx: Context, workspace: str, proposal_id: int, actor: str, action: Action, comment: str = "",
           edit: Edit | None = None, unchanged_since=None) -> Outcome:
    """`decide`, saying whether anything was recorded. Deciding what the proposal already is (approve an
    approved one) records no second event; with `unchanged_since` (the `updated_at` the person saw), a proposal
    changed since then is left alone. In hand-written SQL (rag/review_sql.py); an edit that replaces the
    quotes finds them in the document through the ORM, in the same transaction."""
    review_sql.check_actor(actor)
    edit = edit or Edit()
    if action == Action.edit and edit.quotes is not None:
        with ctx.store.session(write=True) as s:
            outcome = review_sql.record(ctx, Tx.of_session(s), workspace, proposal_id, actor, action, comment, edit,
                                        unchanged_since, lambda: _replace_quotes(s, workspace, proposal_id, edit.quotes))
    else:
        outcome = _grouped(ctx.store).submit(lambda tx: review_sql.changes_of(
            ctx, tx, workspace, proposal_id, actor, action, comment, edit, unchanged_since))
    if outcome.changed:
        _commit_checkpoint(ctx)
    return outcome


def _grouped(store) -> GroupCommit[Outcome]:
    """The store's group commit for decisions: those made at the same moment share a transaction, and their
    audit events are appended together, in the order they were made, before it commits."""
    committer = _committers.get(store)
    if committer is None:
        with _committers_lock:
            committer = _committers.setdefault(store, GroupCommit(
                lambda: store.raw(write=True),
                lambda tx, outcomes: audit.append_many(tx, [e for o in outcomes for e in o.events])))
    return committer


_committers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_committers_lock = threading.Lock()


def _replace_quotes(s: Session, workspace: str, proposal_id: int, quotes: list[str]) -> None:
    """The proposal's citations replaced by these quotes, each found verbatim in its version; flushed."""
    row = _load(s, workspace, proposal_id)
    version = s.get(VersionRow, row.version_id)
    passages = [r for r in s.scalars(select(PassageRow).where(PassageRow.version_id == version.id)) if not r.hidden]
    made = []
    for quote in quotes:
        citation = _find_quote(quote, passages, version)
        if citation is None:
            raise InvalidInput(f"the quote does not occur verbatim in {row.document.name}: {quote[:80]!r}")
        made.append(citation.model_copy(update={"flags": confirmed(citation.flags)}))  # typed by a reviewer
    if not made:
        raise InvalidInput("an edit that replaces citations needs at least one quote")
    row.citations.clear()
    row.citations.extend(_citation_rows(made))
    s.flush()


def _find_quote(quote: str, passages: list[PassageRow], version: VersionRow) -> Citation | None:
    for prow in passages:
        citation = quote_citation(quote, passage_from_row(prow, version.sha256, version.text), version.text)
        if citation is not None:
            return citation
    return None


def add_manual(ctx: Context, workspace: str, framework: str, clause_id: str, document: str, quotes: list[str],
               actor: str, comment: str = "") -> int:
    """A mapping a reviewer adds by hand; its quotes must occur verbatim in the document's current version."""
    ctx.catalog.clause(framework, clause_id)
    with ctx.store.session(write=True) as s:
        doc = s.scalar(select(DocumentRow).where(DocumentRow.workspace == workspace, DocumentRow.name == document))
        if doc is None:
            raise InvalidInput(f"no document named {document!r} in workspace {workspace}")
        version = current_version_row(s, workspace, doc.id)
        passages = list(s.scalars(select(PassageRow).where(PassageRow.version_id == version.id,
                                                           PassageRow.hidden.is_(False))))
        made = [_find_quote(q, passages, version) for q in quotes]
        if not made or any(c is None for c in made):
            raise InvalidInput(f"a quote does not occur verbatim in {document}")
        row = ProposalRow(workspace=workspace, framework=framework, clause_id=clause_id, document_id=doc.id,
                          version_id=version.id, score=0.0, confidence=1.0, coverage=Coverage.partial.value,
                          rationale=comment or "Added by a reviewer.", method=Method.manual.value,
                          status=Status.proposed.value, corpus_version=ctx.catalog.version, created_at=utcnow())
        row.citations.extend(_citation_rows(made))
        s.add(row)
        s.flush()
        audit.append(s, workspace=workspace, actor=actor, action="proposal.add", target=f"proposal:{row.id}",
                     after={"status": row.status, "method": row.method}, clause=f"{framework}:{clause_id}",
                     document_sha256=version.sha256)
        pid = row.id
    _commit_checkpoint(ctx)
    return pid


# --- drift --------------------------------------------------------------------------------------------

DriftReport = drift.DriftReport


def apply_drift(ctx: Context, workspace: str, document_id: int, actor: str = "ctrlmap") -> DriftReport:
    """Drift for one document in a transaction of its own (ingest already applies it with the version)."""
    with ctx.store.session(write=True) as s:
        report = drift.apply(s, workspace, document_id, actor)
    _commit_checkpoint(ctx)
    return report


def decisions_commented(ctx: Context, prefix: str) -> tuple[list[tuple[str, int, str]], int]:
    """Decisions whose comment starts with `prefix` as (workspace, proposal, action), and how many audit events
    carry such a comment (the load benchmark checks the two agree)."""
    from rag.store import AuditRow

    with ctx.store.session() as s:
        rows = s.execute(select(DecisionRow.workspace, DecisionRow.proposal_id, DecisionRow.action)
                         .where(DecisionRow.comment.like(f"{prefix}%"))).all()
        events = s.scalar(select(func.count(AuditRow.seq)).where(
            AuditRow.detail["comment"].as_string().like(f"{prefix}%")))
    return [tuple(r) for r in rows], events or 0
