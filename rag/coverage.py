"""Coverage: the one definition of a clause's state, used by `map`, `coverage`, the API, the web pages and
jobs alike, computed from the stored proposals (never from one run's output):

- covered: an approved proposal with full coverage;     - partial: approved proposals, none of them full;
- needs-review / proposed: live proposals awaiting a person (drifted ones first);
- gap: nothing live (rejected and superseded proposals do not count);
- not-mapped: the framework was never mapped in the workspace (not counted as gaps);
- not-applicable: a person marked the clause not applicable, with a reason (rag/applicability.py), and nothing
  is approved for it: neither a gap nor part of the percentage.

Also the frameworks x documents matrix behind the heatmap."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.applicability import list_not_applicable
from rag.context import Context
from rag.models import Status
from rag.review import list_proposals, mapped_frameworks

LIVE = {Status.proposed, Status.needs_review, Status.approved}


@dataclass
class ClauseCoverage:
    framework: str
    clause_id: str
    title: str
    area: str | None
    status: str  # covered | partial | proposed | needs-review | gap | not-mapped | not-applicable
    documents: list[str] = field(default_factory=list)
    proposals: int = 0
    best_confidence: float = 0.0


@dataclass
class FrameworkCoverage:
    key: str
    name: str
    clauses: int = 0
    covered: int = 0
    partial: int = 0
    awaiting: int = 0
    gaps: int = 0
    mapped: bool = True
    not_applicable: int = 0

    @property
    def percent(self) -> float:
        applicable = self.clauses - self.not_applicable
        return 100.0 * (self.covered + self.partial) / applicable if applicable else 0.0


@dataclass
class CoverageReport:
    frameworks: list[FrameworkCoverage]
    clauses: list[ClauseCoverage]
    matrix: dict[str, dict[str, int]]  # framework -> document name -> clauses with approved or open evidence

    def gaps(self) -> list[ClauseCoverage]:
        return [c for c in self.clauses if c.status == "gap"]


def coverage(ctx: Context, workspace: str, frameworks: list[str] | None = None) -> CoverageReport:
    frameworks = ctx.catalog.keys(frameworks) or ctx.catalog.primary()  # aliases (soc2, ...) accepted
    mapped = mapped_frameworks(ctx, workspace)
    excluded = {(na["framework"], na["clause_id"]) for na in list_not_applicable(ctx, workspace)}
    by_clause: dict[tuple[str, str], list] = {}
    for p in list_proposals(ctx, workspace, limit=10**7):
        if p.framework in frameworks and p.status in LIVE:
            by_clause.setdefault((p.framework, p.clause_id), []).append(p)
    summaries, clauses = [], []
    matrix: dict[str, dict[str, int]] = {}
    for key in frameworks:
        fw = ctx.catalog.framework(key)
        summary = FrameworkCoverage(key=key, name=fw.short, mapped=key in mapped)
        row = matrix.setdefault(fw.short, {})
        for clause in fw.assessable():
            props = by_clause.get((key, clause.id), [])
            approved = [p for p in props if p.status == Status.approved]
            status = _status(props, approved) if summary.mapped else "not-mapped"
            if (key, clause.id) in excluded and not approved:
                status = "not-applicable"
            summary.not_applicable += status == "not-applicable"
            for doc in {p.document_name for p in props}:
                row[doc] = row.get(doc, 0) + 1
            summary.clauses += 1
            summary.covered += status == "covered"
            summary.partial += status == "partial"
            summary.awaiting += status in ("proposed", "needs-review")
            summary.gaps += status == "gap"
            clauses.append(ClauseCoverage(
                framework=key, clause_id=clause.id, title=clause.title, area=clause.area, status=status,
                documents=sorted({p.document_name for p in (approved or props)}), proposals=len(props),
                best_confidence=max((p.confidence for p in props), default=0.0)))
        summaries.append(summary)
    return CoverageReport(summaries, clauses, matrix)


def _status(props: list, approved: list) -> str:
    if approved:
        return "covered" if any(p.coverage.value == "full" for p in approved) else "partial"
    if any(p.status == Status.needs_review for p in props):
        return "needs-review"
    return "proposed" if props else "gap"


# --- cross-framework view by control area -------------------------------------------------------------

# The areas a reviewer looks at across frameworks first, then the rest (keys as in corpora/AREAS.md).
FOCUS_AREAS = {
    "asset-inventory": "Asset inventory", "access-management": "Access management",
    "risk-assessment": "Risk assessment", "incident-management": "Incident management",
    "ai-risk": "AI-specific risk", "adversarial-testing": "Adversarial testing",
    "change-management": "Change management", "ai-lifecycle": "AI lifecycle governance",
}
OTHER_AREAS = {
    "governance": "Governance", "cryptography": "Cryptography", "physical-security": "Physical security",
    "logging-monitoring": "Logging and monitoring", "vulnerability-management": "Vulnerability management",
    "network-security": "Network security", "secure-development": "Secure development",
    "business-continuity": "Business continuity", "vendor-management": "Vendor management",
    "people-security": "People security", "data-protection": "Data protection", "privacy": "Privacy",
    "compliance-audit": "Compliance and audit", "ai-data": "Data for AI", "ai-transparency": "AI transparency",
}


@dataclass
class AreaView:
    """One control area: each framework's clauses in it, and which clauses each document evidences."""

    key: str
    label: str
    clauses: dict[str, list[ClauseCoverage]]  # framework key -> clauses
    evidence: dict[str, dict[str, list[str]]]  # document name -> framework key -> clause ids


def by_area(report: CoverageReport, keys: list[str] | None = None) -> list[AreaView]:
    labels = {**FOCUS_AREAS, **OTHER_AREAS}
    views = []
    for key in keys or list(labels):
        view = AreaView(key=key, label=labels.get(key, key), clauses={f.key: [] for f in report.frameworks},
                        evidence={})
        for c in report.clauses:
            if c.area != key:
                continue
            view.clauses.setdefault(c.framework, []).append(c)
            if c.status != "gap":
                for doc in c.documents:
                    view.evidence.setdefault(doc, {}).setdefault(c.framework, []).append(c.clause_id)
        views.append(view)
    return views
