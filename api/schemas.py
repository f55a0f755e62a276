"""Request and response bodies, one model per direction: `...Create` / `...Update` come in, `...Public` goes
out. Responses carry only what the caller's workspace may see."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.auth import Role


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- system and keys ----------------------------------------------------------------------------------


class HealthPublic(Public):
    status: str
    version: str


class MePublic(Public):
    actor: str
    role: Role
    workspace: str | None
    workspaces: list[str]


class KeyCreate(BaseModel):
    role: Role
    workspace: str | None = Field(None, description="Bind the key to one workspace; omit for all (global admin).")
    name: str = Field(min_length=1, max_length=128, description="The person who holds the key; recorded as the "
                                                                "actor of their decisions.")


class KeyPublic(Public):
    id: int
    prefix: str
    role: Role
    workspace: str | None
    name: str
    created_at: datetime
    revoked: bool


class KeyCreatedPublic(KeyPublic):
    key: str = Field(description="The key itself: shown this once, stored only as a salted hash.")


# --- workspaces and documents -------------------------------------------------------------------------


class WorkspaceCreate(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")


class WorkspacePublic(Public):
    name: str
    documents: int = 0
    proposals: dict[str, int] = Field(default_factory=dict)


class DocumentPublic(Public):
    id: int
    name: str
    title: str
    versions: int
    sha256: str
    media_type: str
    pages: int | None
    passages: int
    updated: datetime


class VersionPublic(Public):
    number: int
    current: bool = False
    sha256: str
    media_type: str
    bytes: int
    parser: str
    pages: int | None
    hidden_spans: int
    created_at: datetime


class DriftPublic(Public):
    reanchored: list[int] = Field(default_factory=list)
    needs_review: list[int] = Field(default_factory=list)


class UploadPublic(Public):
    name: str
    status: str
    document_id: int | None
    version: int | None
    sha256: str | None
    passages: int
    hidden_passages: int
    changed_sections: list[str]
    dropped_passages: list[str]
    warnings: list[str] = Field(default_factory=list, description="e.g. unrendered template placeholders")
    drift: DriftPublic | None = None


class TextWindowPublic(Public):
    sha256: str
    length: int
    start: int
    end: int
    before: str
    quote: str
    after: str


class SearchHitPublic(Public):
    document_id: int
    document_name: str
    sha256: str
    heading: str
    start: int
    end: int
    text: str
    score: float


# --- frameworks ---------------------------------------------------------------------------------------


class FrameworkPublic(Public):
    key: str
    name: str
    short: str
    version: str
    clauses: int
    assessable: int
    by_kind: dict[str, int]
    superseded_by: str | None


class ClausePublic(Public):
    framework: str
    id: str
    title: str
    kind: str
    parent: str | None
    description: str
    area: str | None
    assessable: bool
    text_origin: str


# --- proposals ----------------------------------------------------------------------------------------


class CitationPublic(Public):
    document_sha256: str
    start: int
    end: int
    quote: str
    heading_path: list[str] = Field(default_factory=list)
    page: int | None = None
    flags: list[str] = Field(default_factory=list, description="e.g. instruction-like: text addressed to a "
                             "reviewer or a model; confirmed-by-reviewer once a reviewer quoted it in an edit")


class ProposalPublic(Public):
    id: int
    framework: str
    clause_id: str
    clause_title: str = ""
    document_id: int
    document_name: str
    document_sha256: str
    status: str
    confidence: float
    score: float
    coverage: str
    method: str
    rationale: str
    model: str | None
    prompt_version: str | None
    corpus_version: str
    origin_proposal_id: int | None
    drift: dict
    citations: list[CitationPublic]
    flags: list[str] = Field(default_factory=list, description="warnings from the cited passages (see citations)")
    updated_at: datetime


class DecisionPublic(Public):
    id: int | None
    actor: str
    action: str
    comment: str
    before: dict
    after: dict
    at: datetime


class ProposalDetailPublic(ProposalPublic):
    clause: ClausePublic
    contexts: list[TextWindowPublic]
    decisions: list[DecisionPublic]
    derived: list[ProposalPublic]


class DecisionCreate(BaseModel):
    comment: str = Field("", max_length=4000)


class ProposalUpdate(DecisionCreate):
    coverage: Literal["full", "partial"] | None = None
    rationale: str | None = Field(None, max_length=8000)
    quotes: list[str] | None = Field(None, description="Replace the citations; each must occur verbatim.")


class DecisionResultPublic(Public):
    proposal: ProposalPublic
    propagated: list[ProposalPublic] = Field(default_factory=list)
    unchanged: bool = Field(False, description="True when it already was so: nothing was recorded.")
    note: str | None = None


# --- the review queue at scale (rag/queue.py) ---------------------------------------------------------

QueueStatus = Literal["proposed", "approved", "rejected", "needs-review", "queue", "all"]
MethodName = Literal["offline", "llm", "crosswalk", "manual"]


class QueueFilterIn(BaseModel):
    framework: str | None = Field(None, description="Key or alias (soc2, iso27001, iso42001, ai-rmf).")
    status: QueueStatus | None = None
    document_id: int | None = None
    clause_id: str | None = Field(None, max_length=64)
    area: str | None = Field(None, max_length=64)
    method: MethodName | None = None
    min_confidence: float | None = Field(None, ge=0, le=1)
    max_confidence: float | None = Field(None, ge=0, le=1)
    search: str | None = Field(None, max_length=200)


class QueueCountPublic(Public):
    framework: str
    short: str
    to_review: int
    needs_review: int
    approved: int
    rejected: int
    not_applicable: int


class ProposalPagePublic(Public):
    items: list[ProposalPublic]
    total: int = Field(description="How many proposals match the filter in all.")
    offset: int
    limit: int
    next_offset: int | None
    counts: list[QueueCountPublic]


class BulkDecisionCreate(DecisionCreate):
    action: Literal["approve", "reject", "reopen"]
    ids: list[int] | None = Field(None, max_length=10000, description="These proposals, or:")
    filter: QueueFilterIn | None = Field(None, description="every proposal matching this filter now.")
    seen: dict[int, datetime] | None = Field(None, description="id -> updated_at the reviewer saw; a proposal "
                                                                "changed since is skipped.")


class BulkResultPublic(Public):
    decided: int
    skipped: int
    skipped_reasons: dict[str, int]
    decided_ids: list[int]
    skipped_items: list[dict]
    counts: list[QueueCountPublic]


class NotApplicableCreate(BaseModel):
    reason: str = Field(..., min_length=1, max_length=4000, description="Why the clause does not apply.")


class NotApplicablePublic(Public):
    framework: str
    clause_id: str
    reason: str
    actor: str
    at: datetime


class ClauseCandidatesPublic(Public):
    clause: ClausePublic
    candidates: list[ProposalPublic]
    not_applicable: NotApplicablePublic | None = None


# --- audit, coverage, narrative, jobs -----------------------------------------------------------------


class AuditEventPublic(Public):
    seq: int
    at: str
    actor: str
    action: str
    target: str
    outcome: str
    before: dict
    after: dict
    detail: dict
    hash: str


class DeniedPublic(Public):
    client: str
    window: datetime = Field(description="The minute (UTC) the refusals fall in.")
    outcome: str = Field(description="unauthenticated, forbidden or signin-refused.")
    count: int
    actor: str = Field(description="Who the latest refused request came from, when a key was valid.")
    last_target: str


class VerificationPublic(Public):
    ok: bool
    events: int
    first_bad: int | None
    problem: str
    findings: list[str] = []
    legacy_events: int = 0


class FrameworkCoveragePublic(Public):
    key: str
    name: str
    clauses: int
    covered: int
    partial: int
    awaiting: int
    gaps: int
    not_applicable: int = Field(0, description="Clauses a person marked not applicable (not in the percentage).")
    percent: float


class ClauseCoveragePublic(Public):
    framework: str
    clause_id: str
    title: str
    area: str | None
    status: str
    documents: list[str]
    proposals: int
    best_confidence: float


class CoveragePublic(Public):
    frameworks: list[FrameworkCoveragePublic]
    clauses: list[ClauseCoveragePublic]
    matrix: dict[str, dict[str, int]]


class AreaFrameworkPublic(Public):
    key: str
    name: str
    clauses: list[ClauseCoveragePublic]


class EvidencePublic(Public):
    document: str
    clauses: dict[str, list[str]] = Field(description="framework key -> clause ids this document evidences")


class AreaPublic(Public):
    key: str
    label: str
    frameworks: list[AreaFrameworkPublic]
    evidence: list[EvidencePublic]


class NarrativeStatementPublic(Public):
    text: str
    citations: list[CitationPublic]
    proposal_ids: list[int]
    profile_keys: list[str]
    criterion: str | None
    cells: list[str] = Field(default_factory=list, description="The statement as a row of its section's table.")


class NarrativeSectionPublic(Public):
    key: str
    title: str
    intro: str
    columns: list[str] = Field(default_factory=list, description="Table headings when statements are rows.")
    criteria: dict[str, str] = Field(default_factory=dict, description="Criterion id -> id and title.")
    statements: list[NarrativeStatementPublic]
    subsections: list["NarrativeSectionPublic"]


class NarrativePublic(Public):
    title: str
    sections: list[NarrativeSectionPublic]
    problems: list[str]


class ProfileUpdate(BaseModel):
    profile: dict | None = Field(None, description="The system profile as an object (organization, report, ...).")
    yaml: str | None = Field(None, description="Or the system profile as YAML text (`ctrlmap profile init`).")


class JobCreate(BaseModel):
    frameworks: list[str] = Field(default_factory=list, description="Framework keys; empty: the four primary.")


class JobPublic(Public):
    id: str
    kind: str
    status: str
    progress: float
    message: str
    params: dict
    stats: dict
    started_at: datetime
    finished_at: datetime | None
    worker: str | None = Field(None, description="The worker process holding (or last holding) the job's lease.")
    attempts: int = Field(0, description="How many times a worker claimed it (more than one: a worker died).")
