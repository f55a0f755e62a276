"""The bundled sample organization, and applying a recorded set of reviewer decisions."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterator

import yaml
from sqlalchemy import select

from rag import audit
from rag.context import Context
from rag.corpus import current_version_row
from rag.errors import CtrlmapError, InvalidInput
from rag.models import Action, Coverage, Method, Status, utcnow
from rag.review import Edit, _citation_rows, _find_quote, decide
from rag.store import DocumentRow, PassageRow, ProposalRow

DEFAULT_SAMPLE = "halcyon"


@contextmanager
def sample_dir(name: str = DEFAULT_SAMPLE) -> Iterator[Path]:
    """The sample's folder as a real path (works from a wheel or a source checkout)."""
    with resources.as_file(resources.files("corpora") / "samples" / name) as path:
        if not path.is_dir():
            raise InvalidInput(f"no sample organization named {name!r}")
        yield path


@dataclass
class DecisionOutcome:
    applied: int = 0
    already: int = 0
    added: int = 0
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def apply_decisions(ctx: Context, workspace: str, path: Path) -> DecisionOutcome:
    """Apply `decisions.yaml`: each entry names a framework, clause, document and action (approve, reject or
    edit), the reviewer and a comment. An approval for a clause the pipeline did not propose must bring its
    own `quote`, which has to occur verbatim in the document: it becomes a manual mapping."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    default_reviewer = spec.get("reviewer", "reviewer")
    outcome = DecisionOutcome()
    for entry in spec.get("decisions", []):
        label = f"{entry.get('framework')} {entry.get('clause')} / {entry.get('document')}"
        try:
            _apply_one(ctx, workspace, entry, entry.get("reviewer", default_reviewer), outcome, label)
        except CtrlmapError as exc:
            outcome.errors.append(f"{label}: {exc.message}")
    return outcome


def _apply_one(ctx: Context, workspace: str, entry: dict, reviewer: str, outcome: DecisionOutcome,
               label: str) -> None:
    action = Action(entry["action"])
    with ctx.store.session() as s:
        row = s.execute(select(ProposalRow.id, ProposalRow.status).join(DocumentRow).where(
            ProposalRow.workspace == workspace, ProposalRow.framework == entry["framework"],
            ProposalRow.clause_id == str(entry["clause"]), DocumentRow.name == entry["document"])).first()
    if row is None and entry.get("quote") and action == Action.approve:
        pid = add_manual(ctx, workspace, entry["framework"], str(entry["clause"]), entry["document"],
                         [entry["quote"]], reviewer, entry.get("comment", ""))
        decide(ctx, workspace, pid, reviewer, Action.approve, entry.get("comment", ""))
        outcome.added += 1
        return
    if row is None:
        outcome.missing.append(label)
        return
    target = {Action.approve: Status.approved.value, Action.reject: Status.rejected.value}.get(action)
    if action == Action.edit and entry.get("then") == "approve":
        target = Status.approved.value
    if target and row.status == target:
        outcome.already += 1
        return
    edit = None
    if action == Action.edit:
        edit = Edit(coverage=Coverage(entry["coverage"]) if entry.get("coverage") else None,
                    rationale=entry.get("rationale"), quotes=[entry["quote"]] if entry.get("quote") else None)
    decide(ctx, workspace, row.id, reviewer, action, entry.get("comment", ""), edit)
    if action == Action.edit and entry.get("then") == "approve":
        decide(ctx, workspace, row.id, reviewer, Action.approve, entry.get("comment", ""))
    outcome.applied += 1


def add_manual(ctx: Context, workspace: str, framework: str, clause_id: str, document: str, quotes: list[str],
               actor: str, comment: str = "") -> int:
    """A mapping a reviewer adds by hand; its quotes must occur verbatim in the document's current version."""
    from rag.review import _commit_checkpoint

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
