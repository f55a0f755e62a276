"""Frameworks and their clauses (the catalog is shared by every workspace and holds no tenant data)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ContextDep, Viewer
from api.schemas import ClausePublic, FrameworkPublic
from rag.errors import NotFound

router = APIRouter(prefix="/api/frameworks", tags=["frameworks"])


@router.get("", response_model=list[FrameworkPublic])
def list_frameworks(principal: Viewer, ctx: ContextDep) -> list[FrameworkPublic]:
    """Each loaded framework with its clause counts by kind. Role: viewer."""
    return [FrameworkPublic(key=fw.key, name=fw.name, short=fw.short, version=fw.version, clauses=len(fw.clauses),
                            assessable=len(fw.assessable()), by_kind=fw.counts_by_kind(),
                            superseded_by=fw.superseded_by) for fw in ctx.catalog.frameworks.values()]


@router.get("/{framework}/clauses", response_model=list[ClausePublic])
def list_clauses(framework: str, principal: Viewer, ctx: ContextDep,
                 area: Annotated[str | None, Query(description="Only clauses of this control area.")] = None,
                 assessable: Annotated[bool | None, Query(description="Only assessable clauses (or only not).")] = None,
                 ) -> list[ClausePublic]:
    """A framework's clauses in catalog order. Role: viewer."""
    if not ctx.catalog.known(framework):
        raise NotFound(f"no framework {framework!r}", target=f"framework:{framework[:64]}")
    fw = ctx.catalog.framework(framework)
    return [ClausePublic.model_validate(c) for c in fw.clauses
            if (area is None or c.area == area) and (assessable is None or c.assessable == assessable)]
