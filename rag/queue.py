"""The review queue at scale: filters, search, sorting in natural clause order (4.1 before 10.2, CC1.2 before
CC10.1) and pages with a true total; the candidates of one clause side by side; bulk decisions, each one its own
audited decision through `review.record`; live counts per framework; a clause's leads (documents the latest
run ranked for it but did not propose).

Sorting happens on a light projection of the matching rows (id, clause, confidence, document, status), so a
page is exact however large the queue is; only the rows of the page are loaded in full.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, false, func, or_, select

from rag import review
from rag.context import Context
from rag.errors import Conflict, InvalidInput, NotFound
from rag.models import Action, Method, Proposal, Status
from rag.store import CitationRow, DocumentRow, EvidenceRow, ProposalRow

OPEN = (Status.needs_review.value, Status.proposed.value)
STATUS_GROUPS = {"queue": OPEN, "open": OPEN, "all": None}
SORTS = ("clause", "confidence", "document", "status")
STATUS_ORDER = {Status.needs_review.value: 0, Status.proposed.value: 1, Status.approved.value: 2,
                Status.rejected.value: 3}
MAX_BULK = 10_000
_DIGITS = re.compile(r"(\d+)")


def natural_key(clause_id: str) -> tuple:
    """`CC1.2` < `CC10.1`, `4.1` < `10.2`, `A.5.9` < `A.5.15`: runs of digits compare as numbers."""
    return tuple(int(part) if i % 2 else part.lower() for i, part in enumerate(_DIGITS.split(clause_id)))


@dataclass
class Filter:
    framework: str | None = None
    status: str | None = None  # a status, "queue" (proposed and needs-review) or None / "all"
    document_id: int | None = None
    clause_id: str | None = None
    area: str | None = None  # control area key (corpora/AREAS.md)
    method: str | None = None  # offline, llm, crosswalk, manual
    min_confidence: float | None = None
    max_confidence: float | None = None
    search: str | None = None  # clause id or title, quote text, document name


@dataclass
class Page:
    items: list[Proposal]
    total: int
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None


@dataclass
class BulkResult:
    decided: list[int] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # {"id", "reason"}

    def as_dict(self) -> dict:
        reasons: dict[str, int] = {}
        for s in self.skipped:
            reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
        return {"decided": len(self.decided), "skipped": len(self.skipped), "skipped_reasons": reasons,
                "decided_ids": self.decided, "skipped_items": self.skipped}


# --- querying -----------------------------------------------------------------------------------------


def _conditions(ctx: Context, workspace: str, f: Filter) -> list:
    where = [ProposalRow.workspace == workspace]
    if f.framework:
        where.append(ProposalRow.framework == ctx.catalog.key(f.framework))
    statuses = STATUS_GROUPS.get(f.status, (f.status,)) if f.status else None
    if statuses:
        bad = [s for s in statuses if s not in STATUS_ORDER]
        if bad:
            raise InvalidInput(f"unknown status {bad[0]!r}; use {', '.join(STATUS_ORDER)}, queue or all")
        where.append(ProposalRow.status.in_(statuses))
    if f.document_id:
        where.append(ProposalRow.document_id == f.document_id)
    if f.clause_id:
        where.append(ProposalRow.clause_id == f.clause_id)
    if f.method:
        if f.method not in {m.value for m in Method}:
            raise InvalidInput(f"unknown method {f.method!r}; use {', '.join(m.value for m in Method)}")
        where.append(ProposalRow.method == f.method)
    if f.min_confidence is not None:
        where.append(ProposalRow.confidence >= f.min_confidence)
    if f.max_confidence is not None:
        where.append(ProposalRow.confidence <= f.max_confidence)
    if f.area:
        where.append(_clauses_in(ctx, lambda c: c.area == f.area))
    if f.search and f.search.strip():
        where.append(_search(ctx, f.search.strip()))
    return where


def _clauses_in(ctx: Context, keep) -> object:
    """A condition: the proposal's clause is one of the catalog's clauses for which `keep(clause)` holds."""
    parts = []
    for key, fw in ctx.catalog.frameworks.items():
        ids = [c.id for c in fw.clauses if keep(c)]
        if ids:
            parts.append(and_(ProposalRow.framework == key, ProposalRow.clause_id.in_(ids)))
    return or_(*parts) if parts else false()


def _search(ctx: Context, term: str) -> object:
    folded = term.lower()
    quoted = select(CitationRow.id).where(CitationRow.proposal_id == ProposalRow.id,
                                          func.lower(CitationRow.quote).contains(folded, autoescape=True))
    return or_(func.lower(ProposalRow.clause_id).contains(folded, autoescape=True),
               func.lower(DocumentRow.name).contains(folded, autoescape=True),
               quoted.exists(),
               _clauses_in(ctx, lambda c: folded in c.title.lower()))


def _sort_key(sort: str, order: dict[str, int]):
    def clause(r):
        return order.get(r.framework, len(order)), r.framework, natural_key(r.clause_id)

    keys = {"clause": lambda r: (*clause(r), -r.confidence, r.id),
            "confidence": lambda r: (r.confidence, *clause(r), r.id),
            "document": lambda r: (r.name.lower(), *clause(r), -r.confidence, r.id),
            "status": lambda r: (STATUS_ORDER.get(r.status, 9), *clause(r), -r.confidence, r.id)}
    return keys[sort]


def matching(ctx: Context, workspace: str, f: Filter, sort: str = "clause") -> list:
    """Every matching proposal as (id, updated_at) rows in the requested order. `sort` is one of SORTS, with a
    leading `-` for the reverse order."""
    descending, name = sort.startswith("-"), sort.lstrip("-")
    if name not in SORTS:
        raise InvalidInput(f"unknown sort {sort!r}; use {', '.join(SORTS)} (a leading - reverses it)")
    q = (select(ProposalRow.id, ProposalRow.framework, ProposalRow.clause_id, ProposalRow.confidence,
                ProposalRow.status, ProposalRow.updated_at, DocumentRow.name)
         .join(DocumentRow, DocumentRow.id == ProposalRow.document_id).where(*_conditions(ctx, workspace, f)))
    order = {k: i for i, k in enumerate(ctx.catalog.primary())}
    with ctx.store.session() as s:
        rows = s.execute(q).all()
    return sorted(rows, key=_sort_key(name, order), reverse=descending)


def page(ctx: Context, workspace: str, f: Filter | None = None, sort: str = "clause", limit: int = 50,
         offset: int = 0) -> Page:
    """One page of the matching proposals and how many match in all."""
    if limit < 1 or offset < 0:
        raise InvalidInput("limit must be at least 1 and offset at least 0")
    rows = matching(ctx, workspace, f or Filter(), sort)
    ids = [r.id for r in rows[offset:offset + limit]]
    return Page(items=review.get_proposals(ctx, workspace, ids), total=len(rows), offset=offset, limit=limit)


def clause_view(ctx: Context, workspace: str, framework: str, clause_id: str) -> list[Proposal]:
    """Every candidate of one clause (any status), most confident first (ties: oldest first)."""
    clause = ctx.catalog.clause(framework, clause_id)
    rows = matching(ctx, workspace, Filter(framework=clause.framework, clause_id=clause.id), "clause")
    return review.get_proposals(ctx, workspace, [r.id for r in rows])


@dataclass
class Lead:
    """A document the latest mapping run ranked for a clause without proposing it (its confidence fell below
    the proposal threshold, or no passage of it could be cited): where a reviewer may look next."""

    rank: int  # in the run's ranking of documents for the clause
    document_id: int
    document: str  # its name
    confidence: float


def clause_leads(ctx: Context, workspace: str, framework: str, clause_id: str, limit: int = 3) -> list[Lead]:
    """The clause's best documents in the latest run's stored ranking that have no proposal for it, best first.
    The run stores its ranking per document (rag.review keeps the ten best), not the passage behind it."""
    clause = ctx.catalog.clause(framework, clause_id)
    proposed = select(ProposalRow.document_id).where(ProposalRow.workspace == workspace,
                                                      ProposalRow.framework == clause.framework,
                                                      ProposalRow.clause_id == clause.id)
    q = (select(EvidenceRow.rank, EvidenceRow.document_id, DocumentRow.name, EvidenceRow.confidence)
         .join(DocumentRow, DocumentRow.id == EvidenceRow.document_id)
         .where(EvidenceRow.workspace == workspace, EvidenceRow.framework == clause.framework,
                EvidenceRow.clause_id == clause.id, EvidenceRow.document_id.not_in(proposed))
         .order_by(EvidenceRow.rank).limit(max(0, limit)))
    with ctx.store.session() as s:
        return [Lead(*row) for row in s.execute(q).all()]


# --- deciding many ------------------------------------------------------------------------------------


def decide_many(ctx: Context, workspace: str, action: Action, actor: str, comment: str = "",
                ids: list[int] | None = None, where: Filter | None = None,
                seen: dict[int, datetime] | None = None) -> BulkResult:
    """The same decision on each chosen proposal (`ids`) or on every proposal matching `where` now. Each is its
    own audited decision; a proposal already so, changed since the person saw it (`seen`: id -> updated_at),
    or that cannot take the decision is skipped with the reason."""
    if action == Action.edit:
        raise InvalidInput("edits are made one proposal at a time")
    if (ids is None) == (where is None):
        raise InvalidInput("choose the proposals either by id or by a filter")
    if where is not None:
        rows = matching(ctx, workspace, where)
        targets = [(r.id, r.updated_at) for r in rows]
    else:
        targets = [(i, (seen or {}).get(i)) for i in dict.fromkeys(ids)]
    if len(targets) > MAX_BULK:
        raise InvalidInput(f"{len(targets)} proposals match; decide at most {MAX_BULK} at once (narrow the filter)")
    result = BulkResult()
    for pid, since in targets:
        try:
            outcome = review.record(ctx, workspace, pid, actor, action, comment, unchanged_since=since)
        except (NotFound, Conflict) as exc:
            result.skipped.append({"id": pid, "reason": exc.message})
            continue
        if outcome.changed:
            result.decided.append(pid)
        else:
            result.skipped.append({"id": pid, "reason": outcome.skipped})
    return result


def settle_clause(ctx: Context, workspace: str, framework: str, clause_id: str, approve_id: int, actor: str,
                  comment: str = "") -> BulkResult:
    """Approve the right candidate of a clause and reject its other open candidates, in one go."""
    candidates = clause_view(ctx, workspace, framework, clause_id)
    if approve_id not in {p.id for p in candidates}:
        raise InvalidInput(f"proposal {approve_id} is not a candidate of {framework} {clause_id}")
    result = decide_many(ctx, workspace, Action.approve, actor, comment, ids=[approve_id])
    others = [p.id for p in candidates if p.id != approve_id and p.status.value in OPEN]
    if others:
        rest = decide_many(ctx, workspace, Action.reject, actor, comment, ids=others)
        result.decided += rest.decided
        result.skipped += rest.skipped
    return result


# --- counts -------------------------------------------------------------------------------------------


def counts(ctx: Context, workspace: str) -> list[dict]:
    """Per framework with proposals or not-applicable clauses: to review (proposed and needs-review), approved,
    rejected, and clauses marked not applicable."""
    from rag.applicability import list_not_applicable

    with ctx.store.session() as s:
        rows = s.execute(select(ProposalRow.framework, ProposalRow.status, func.count(ProposalRow.id))
                         .where(ProposalRow.workspace == workspace)
                         .group_by(ProposalRow.framework, ProposalRow.status)).all()
    out: dict[str, dict] = {}

    def entry(key: str) -> dict:
        fw = ctx.catalog.frameworks.get(key)
        return out.setdefault(key, {"framework": key, "short": fw.short if fw else key, "to_review": 0,
                                    "needs_review": 0, "approved": 0, "rejected": 0, "not_applicable": 0})

    for framework, status, n in rows:
        e = entry(framework)
        e["to_review"] += n if status in OPEN else 0
        e["needs_review"] += n if status == Status.needs_review.value else 0
        if status in ("approved", "rejected"):
            e[status] += n
    for na in list_not_applicable(ctx, workspace):
        entry(na["framework"])["not_applicable"] += 1
    order = {k: i for i, k in enumerate(ctx.catalog.primary())}
    return sorted(out.values(), key=lambda e: (order.get(e["framework"], len(order)), e["framework"]))
