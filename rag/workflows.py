"""User actions, each written once. Command line, HTTP routes, background work, the sample walkthrough and
evaluation runs all go through these functions, so no face can grow its own variant of an action:

- `ingest_documents` / `ingest_upload`: store versions (each together with its drift and audit event, in one
  transaction), index their passages, report what changed;
- `run_mapping`: a fresh judge for this run alone (its spend and limit belong to it), propose, save, and
  the resulting coverage;
- `decide`: a person's decision plus the crosswalk suggestions it produced;
- `describe_system`: the SOC 2 description drafted from approved mappings, with its check (given the
  run's LLM client, the narrative's calls count in that run's usage and budget).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rag import audit, drift
from rag.context import Context
from rag.corpus import sync_index
from rag.coverage import CoverageReport, coverage
from rag.errors import IngestError
from rag.ingest.pipeline import IngestResult, collect, ingest_bytes, ingest_paths
from rag.mapping import MappingRun, Progress, propose
from rag.models import Action, Proposal
from rag.review import Edit, SaveStats, save_run
from rag.review import record as record_decision

STATUSES = ("ingested", "new-version", "unchanged", "rejected")


_checkpoint = audit.advance_checkpoint


# --- ingest ---------------------------------------------------------------------------------------------


@dataclass
class IngestOutcome:
    workspace: str
    results: list[IngestResult] = field(default_factory=list)
    repaired: drift.DriftReport | None = None  # drift found in the store from an earlier interrupted run

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.results) for s in STATUSES}


def ingest_documents(ctx: Context, workspace: str, paths: list[str], actor: str,
                     progress: Callable[[IngestResult], None] | None = None,
                     files: list[tuple[str, Path]] | None = None) -> IngestOutcome:
    """Ingest files, folders or globs into a workspace (created if new)."""
    workspace = ctx.workspace(workspace, create=True)
    outcome = IngestOutcome(workspace, repaired=drift.reconcile(ctx.store, workspace, actor))
    files = files if files is not None else collect(paths)
    outcome.results = ingest_paths(ctx, workspace, [], progress, actor, files=files)
    sync_index(ctx, workspace)  # vectors a killed earlier run committed to SQL but never indexed
    for r in outcome.results:
        if r.status == "rejected":
            _record_rejection(ctx, workspace, actor, r.name, r.error)
    _checkpoint(ctx)
    return outcome


def ingest_upload(ctx: Context, workspace: str, name: str, data: bytes, actor: str) -> IngestResult:
    """One uploaded file; raises IngestError (after recording it) when it cannot be ingested."""
    try:
        result = ingest_bytes(ctx, workspace, name, data, actor=actor)
    except IngestError as exc:
        _record_rejection(ctx, workspace, actor, name, exc)
        raise
    finally:
        _checkpoint(ctx)
    return result


def _record_rejection(ctx: Context, workspace: str, actor: str, name: str, exc: Exception | None) -> None:
    reason = getattr(exc, "reason", None) or "error"
    with ctx.store.session(write=True) as s:
        audit.append(s, workspace=workspace, actor=actor, action="document.ingest", target=f"document:{name[:200]}",
                     outcome="rejected", reason=reason, message=getattr(exc, "message", None) or str(exc)[:300])


# --- mapping ------------------------------------------------------------------------------------------


@dataclass
class MappingOutcome:
    run: MappingRun
    saved: SaveStats
    coverage: CoverageReport
    repaired: drift.DriftReport

    @property
    def usage(self) -> dict:
        """LLM usage of this run alone (empty offline)."""
        stats = self.run.stats
        return {"model": stats.get("model"), "prompt": stats.get("prompt_version"), **stats["llm"]} \
            if stats.get("llm") else {}

    def summary(self) -> str:
        gaps = sum(f.gaps for f in self.coverage.frameworks)
        return (f"{self.saved.created} new, {self.saved.updated} updated, {self.saved.kept} kept, "
                f"{self.saved.superseded} superseded; {gaps} gaps")


def make_run_judge(ctx: Context):
    """A judge (and LLM client) for one run, or None offline: budgets and usage never carry across runs."""
    if not ctx.settings.use_llm:
        return None
    from rag.judge import make_judge

    judge = make_judge(ctx)
    judge.client.preflight()  # key, model, reachability with one cheap call: LLMRefused / LLMUnavailable
    return judge


def run_mapping(ctx: Context, workspace: str, frameworks: list[str], actor: str,
                progress: Progress | None = None, judge=None) -> MappingOutcome:
    """Propose mappings for the frameworks' clauses, save them, and measure coverage."""
    workspace = ctx.workspace(workspace)
    repaired = drift.reconcile(ctx.store, workspace, actor)
    judge = judge if judge is not None else make_run_judge(ctx)
    run = propose(ctx, workspace, frameworks, progress=progress, judge=judge)
    saved = save_run(ctx, workspace, run, actor=actor)
    return MappingOutcome(run, saved, coverage(ctx, workspace, frameworks), repaired)


# --- review -------------------------------------------------------------------------------------------


@dataclass
class Decided:
    proposal: Proposal
    propagated: list[Proposal] = field(default_factory=list)  # crosswalk suggestions this decision made
    skipped: str | None = None  # e.g. "already approved": deciding it again recorded nothing


def decide(ctx: Context, workspace: str, proposal_id: int, actor: str, action: Action, comment: str = "",
           edit: Edit | None = None) -> Decided:
    outcome = record_decision(ctx, workspace, proposal_id, actor, action, comment, edit)
    return Decided(outcome.proposal, outcome.propagated, outcome.skipped)


# --- the system description ------------------------------------------------------------------------------


@dataclass
class Description:
    title: str
    period: str
    sections: list
    problems: list[str]
    usage: dict = field(default_factory=dict)  # the narrative's own LLM calls, tokens and cost (empty offline)


def describe_system(ctx: Context, workspace: str, profile, title: str | None = None, client=None) -> Description:
    """The SOC 2 system description from approved mappings (drafted by the configured mode) and its check.
    `profile`: a rag.profile.SystemProfile, a mapping (validated), or None. `client`: the run's
    rag.llm.LLMClient (e.g. its judge's), so mapping and narrative share one budget; a fresh one when None."""
    from rag.narrate import check, draft
    from rag.profile import coerce

    workspace = ctx.workspace(workspace)
    p = coerce(profile)
    narrator = _narrator(ctx, client)
    sections = draft(ctx, workspace, p, narrator)
    default = p.title() if p else f"Workspace {workspace}: system description"
    return Description(title or default, p.period() if p else "", sections, check(ctx, workspace, sections, p),
                       narrator.spent() if narrator else {})


def _narrator(ctx: Context, client):
    """The LLM narrator of a description drafted by a model, on the given client; None offline."""
    if not ctx.settings.use_llm:
        return None
    from rag.narrate_llm import LLMNarrator

    return LLMNarrator(ctx, client)


def with_narrative(usage: dict, narrative: dict) -> dict:
    """A run's LLM usage (its mapping's) with the narrative drafted after it added in; the narrative's calls
    are also shown on their own."""
    if not narrative:
        return usage
    from rag.llm_budget import added

    return {**added(usage, narrative), "narrative_calls": narrative["calls"]}
