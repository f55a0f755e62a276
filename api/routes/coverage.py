"""Coverage: per framework covered / awaiting / gaps, the frameworks x documents matrix behind the heatmap,
and the cross-framework view by control area (which clauses of each framework the same evidence covers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ContextDep, ViewerIn
from api.schemas import (AreaFrameworkPublic, AreaPublic, ClauseCoveragePublic, CoveragePublic, EvidencePublic,
                         FrameworkCoveragePublic)
from rag.coverage import FOCUS_AREAS, by_area, coverage
from rag.errors import NotFound

router = APIRouter(prefix="/api/workspaces/{workspace}", tags=["coverage"])


@router.get("/coverage", response_model=CoveragePublic)
def get_coverage(access: ViewerIn, ctx: ContextDep,
                 framework: Annotated[list[str], Query(description="Framework keys [default: the four primary]")] = [],
                 clauses: Annotated[bool, Query(description="Include every clause (false: the summary only)")] = True
                 ) -> CoveragePublic:
    """Coverage of each framework by the workspace's mappings. Role: viewer."""
    unknown = [k for k in framework if not ctx.catalog.known(k)]
    if unknown:
        raise NotFound(f"no framework {unknown[0]!r}")
    report = coverage(ctx, access.workspace, framework or None)
    return CoveragePublic(
        frameworks=[FrameworkCoveragePublic(**f.__dict__, percent=round(f.percent, 1)) for f in report.frameworks],
        clauses=[ClauseCoveragePublic(**c.__dict__) for c in report.clauses] if clauses else [],
        matrix=report.matrix)


@router.get("/areas", response_model=list[AreaPublic])
def get_areas(access: ViewerIn, ctx: ContextDep,
              focus: Annotated[bool, Query(description="Only the eight focus areas")] = False) -> list[AreaPublic]:
    """Clauses of every framework grouped by control area, with the evidence documents they share.
    Role: viewer."""
    report = coverage(ctx, access.workspace)
    names = {f.key: f.name for f in report.frameworks}
    return [AreaPublic(
        key=view.key, label=view.label,
        frameworks=[AreaFrameworkPublic(key=k, name=names[k], clauses=[ClauseCoveragePublic(**c.__dict__)
                                                                         for c in items])
                    for k, items in view.clauses.items()],
        evidence=[EvidencePublic(document=doc, clauses=fws) for doc, fws in sorted(view.evidence.items())])
        for view in by_area(report, list(FOCUS_AREAS) if focus else None)]
