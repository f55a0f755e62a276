"""Clause-level "not applicable" decisions (minimal read-only stand-in: the review feature owns this module and
records the decisions; until it lands here, no clause is marked not applicable)."""

from __future__ import annotations

from rag.context import Context


def list_not_applicable(ctx: Context, workspace: str) -> list[dict]:
    """Not-applicable decisions of the workspace: dicts with framework, clause_id, reason, actor, at."""
    del ctx, workspace
    return []
