"""The bundled sample organization, and applying a recorded set of reviewer decisions."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterator

import yaml

from rag.context import Context
from rag.errors import CtrlmapError, InvalidInput
from rag.models import Action, Coverage, Status
from rag.review import Edit, add_manual, decide, list_proposals

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
    row = next((p for p in list_proposals(ctx, workspace, framework=entry["framework"],
                                          clause_id=str(entry["clause"]))
                if p.document_name == entry["document"]), None)
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
    if target and row.status.value == target:
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
