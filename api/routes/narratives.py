"""The SOC 2 system description drafted from approved mappings, with every statement's citations, and the
workspace's system profile it draws the organization's facts from."""

from __future__ import annotations

from pathlib import Path

import yaml
from fastapi import APIRouter

from api.deps import AdminIn, ContextDep, ViewerIn, record_event
from api.schemas import NarrativePublic, NarrativeSectionPublic, ProfileUpdate
from rag.context import Context
from rag.demo import WORKSPACE as DEMO_WORKSPACE
from rag.narrate import load_profile
from rag.samples import sample_dir
from rag.workflows import describe_system

router = APIRouter(prefix="/api/workspaces/{workspace}/narrative", tags=["narratives"])


def profile_path(ctx: Context, workspace: str) -> Path:
    return ctx.settings.data_dir / "profiles" / f"{workspace}.yaml"


def workspace_profile(ctx: Context, workspace: str) -> dict:
    """The profile an admin stored for the workspace; the demo workspace falls back to the sample's."""
    path = profile_path(ctx, workspace)
    if path.exists():
        return load_profile(path)
    if workspace == DEMO_WORKSPACE:
        with sample_dir() as sample:
            return load_profile(sample / "system-profile.yaml")
    return {}


@router.get("", response_model=NarrativePublic)
def get_narrative(access: ViewerIn, ctx: ContextDep) -> NarrativePublic:
    """The draft system description (DC 200): profile facts and verbatim quotes of approved evidence, each
    with its citation, plus any statement that fails the citation check. Role: viewer."""
    desc = describe_system(ctx, access.workspace, workspace_profile(ctx, access.workspace))
    return NarrativePublic(title=desc.title,
                           sections=[NarrativeSectionPublic.model_validate(s.model_dump()) for s in desc.sections],
                           problems=desc.problems)


@router.put("/profile", response_model=NarrativePublic)
def put_profile(body: ProfileUpdate, access: AdminIn, ctx: ContextDep) -> NarrativePublic:
    """Store the workspace's system profile and return the narrative drafted with it. Role: admin."""
    path = profile_path(ctx, access.workspace)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(body.profile, sort_keys=False, allow_unicode=True), encoding="utf-8")
    record_event(ctx, workspace=access.workspace, actor=access.actor, action="profile.update",
                 target=f"profile:{access.workspace}", after={"keys": sorted(body.profile)[:50]})
    return get_narrative(access, ctx)
