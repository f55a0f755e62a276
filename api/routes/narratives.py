"""The SOC 2 system description drafted from approved mappings, with every statement's citations, its
readiness check, and the workspace's system profile (stored versioned and audited) it draws the
organization's facts from."""

from __future__ import annotations

import yaml
from fastapi import APIRouter

from api.deps import AdminIn, ContextDep, ViewerIn
from api.schemas import NarrativePublic, NarrativeSectionPublic, ProfileUpdate
from rag.context import Context
from rag.errors import InvalidInput
from rag.narrate import readiness
from rag.profile import SystemProfile, current, save, stored_text, versions
from rag.workflows import describe_system

router = APIRouter(prefix="/api/workspaces/{workspace}/narrative", tags=["narratives"])


def workspace_profile(ctx: Context, workspace: str) -> SystemProfile | None:
    """The profile an admin stored for the workspace; the demo workspace falls back to the sample's."""
    return current(ctx, workspace)


@router.get("", response_model=NarrativePublic)
def get_narrative(access: ViewerIn, ctx: ContextDep) -> NarrativePublic:
    """The draft system description (Section III, DC 200): profile facts and whole sentences of approved
    evidence, each with its citation, plus any statement that fails the check. Role: viewer."""
    desc = describe_system(ctx, access.workspace, workspace_profile(ctx, access.workspace))
    return NarrativePublic(title=desc.title,
                           sections=[NarrativeSectionPublic.model_validate(s.model_dump()) for s in desc.sections],
                           problems=desc.problems)


@router.get("/check")
def get_check(access: ViewerIn, ctx: ContextDep) -> dict:
    """What the description lacks: each DC 200 element present or needing input (and what), each in-scope
    criterion supported, not applicable or unsupported. Role: viewer."""
    report = readiness(ctx, access.workspace, workspace_profile(ctx, access.workspace))
    return {"complete": report.complete, "elements": report.elements, "criteria": report.criteria,
            "problems": report.problems}


@router.get("/profile")
def get_profile(access: ViewerIn, ctx: ContextDep) -> dict:
    """The stored profile (YAML as written; null when none is stored) and its version history. Role: viewer."""
    return {"yaml": stored_text(ctx, access.workspace), "versions": versions(ctx, access.workspace)}


@router.put("/profile", response_model=NarrativePublic)
def put_profile(body: ProfileUpdate, access: AdminIn, ctx: ContextDep) -> NarrativePublic:
    """Store a new version of the workspace's system profile (`yaml` text or a `profile` object; every problem
    is reported, nothing is stored when there is one) and return the narrative drafted with it. Role: admin."""
    if (body.yaml is None) == (body.profile is None):
        raise InvalidInput("send either `yaml` (the profile as YAML text) or `profile` (an object)")
    text = body.yaml if body.yaml is not None else yaml.safe_dump(body.profile, sort_keys=False, allow_unicode=True)
    save(ctx, access.workspace, text, access.actor)
    return get_narrative(access, ctx)
