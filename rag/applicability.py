"""Not applicable: a person's decision that a clause does not apply to the organization, with a mandatory
reason, recorded in the audit trail. The ISO 27001 Statement of Applicability and SOC 2 DC8 read it, and a
clause marked not applicable is not a gap."""

from __future__ import annotations

from sqlalchemy import delete, select

from rag import audit
from rag.context import Context
from rag.errors import InvalidInput, NotFound
from rag.review import _commit_checkpoint
from rag.store import NotApplicableRow

MAX_REASON = 4000


def mark_not_applicable(ctx: Context, workspace: str, framework: str, clause_id: str, reason: str,
                        actor: str) -> dict:
    """Mark the clause not applicable (or change the reason). Returns the record."""
    clause = ctx.catalog.clause(ctx.catalog.key(framework), clause_id)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(f"marking {clause.framework} {clause.id} not applicable needs a reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason is longer than {MAX_REASON} characters")
    if not actor:
        raise InvalidInput("a decision needs the name of the person making it")
    with ctx.store.session(write=True) as s:
        row = _row(s, workspace, clause.framework, clause.id)
        before = _record(row) if row else None
        if row is not None and row.reason == reason:
            return before
        if row is None:
            row = NotApplicableRow(workspace=workspace, framework=clause.framework, clause_id=clause.id)
            s.add(row)
        row.reason, row.actor = reason, actor
        s.flush()
        after = _record(row)
        audit.append(s, workspace=workspace, actor=actor, action="clause.not-applicable",
                     target=f"clause:{clause.framework}:{clause.id}", before=_audited(before) or {},
                     after=_audited(after), comment=reason)
    _commit_checkpoint(ctx)
    return after


def clear_not_applicable(ctx: Context, workspace: str, framework: str, clause_id: str, actor: str,
                         comment: str = "") -> None:
    """The clause applies again (its gap, if any, counts again)."""
    clause = ctx.catalog.clause(ctx.catalog.key(framework), clause_id)
    if not actor:
        raise InvalidInput("a decision needs the name of the person making it")
    with ctx.store.session(write=True) as s:
        row = _row(s, workspace, clause.framework, clause.id)
        if row is None:
            raise NotFound(f"{clause.framework} {clause.id} is not marked not applicable in workspace {workspace}",
                           target=f"clause:{clause.framework}:{clause.id}")
        before = _audited(_record(row))
        s.execute(delete(NotApplicableRow).where(NotApplicableRow.id == row.id))
        audit.append(s, workspace=workspace, actor=actor, action="clause.applicable",
                     target=f"clause:{clause.framework}:{clause.id}", before=before, after={},
                     comment=comment or None)
    _commit_checkpoint(ctx)


def list_not_applicable(ctx: Context, workspace: str) -> list[dict]:
    """Every clause marked not applicable: {framework, clause_id, reason, actor, at}, by framework and clause."""
    with ctx.store.session() as s:
        rows = s.scalars(select(NotApplicableRow).where(NotApplicableRow.workspace == workspace)
                         .order_by(NotApplicableRow.framework, NotApplicableRow.clause_id))
        return [_record(r) for r in rows]


def _row(s, workspace: str, framework: str, clause_id: str) -> NotApplicableRow | None:
    return s.scalar(select(NotApplicableRow).where(NotApplicableRow.workspace == workspace,
                                                   NotApplicableRow.framework == framework,
                                                   NotApplicableRow.clause_id == clause_id))


def _record(row: NotApplicableRow) -> dict:
    return {"framework": row.framework, "clause_id": row.clause_id, "reason": row.reason, "actor": row.actor,
            "at": row.at}


def _audited(record: dict | None) -> dict | None:
    return None if record is None else {"not_applicable": True, "reason": record["reason"], "by": record["actor"]}
