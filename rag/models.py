"""The domain model every stage speaks: frameworks and clauses, documents and their versions, passages,
citations, proposals and decisions. Pure pydantic, no I/O."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, model_validator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(at: datetime) -> datetime:
    """A stored timestamp with its zone: SQLite hands them back without one, and they are stored in UTC."""
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


class Model(BaseModel):
    model_config = ConfigDict(frozen=False, extra="forbid")


# --- frameworks ---------------------------------------------------------------------------------------


class Clause(Model):
    """One requirement, control or criterion of a framework (or a grouping node above them)."""

    framework: str
    id: str
    title: str
    kind: str
    parent: str | None = None
    description: str = ""
    policy_language: str = ""
    keywords: list[str] = Field(default_factory=list)
    focus: list[str] = Field(default_factory=list)
    area: str | None = None
    official_title: str | None = None
    text_origin: str = "ctrlmap"
    assessable: bool = False

    @property
    def key(self) -> str:
        return f"{self.framework}:{self.id}"

    @property
    def label(self) -> str:
        return f"{self.id} {self.title}".strip()

    def query_text(self) -> str:
        """Everything known about the clause, as one retrieval query."""
        parts = [self.title, self.official_title or "", self.description, self.policy_language,
                 " ".join(self.focus), ", ".join(self.keywords)]
        return "\n".join(p for p in parts if p)


class Framework(Model):
    key: str
    name: str
    short: str
    publisher: str = ""
    version: str = ""
    assessable_kinds: list[str] = Field(default_factory=list)
    superseded_by: str | None = None
    clauses: list[Clause] = Field(default_factory=list)
    source: str = "bundled"

    def clause(self, clause_id: str) -> Clause | None:
        return next((c for c in self.clauses if c.id == clause_id), None)

    def assessable(self) -> list[Clause]:
        return [c for c in self.clauses if c.assessable]

    def counts_by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self.clauses:
            counts[c.kind] = counts.get(c.kind, 0) + 1
        return counts


class CrosswalkLink(Model):
    source_framework: str
    source_id: str
    target_framework: str
    target_id: str
    relation: str = "related"
    origin: str = ""


# --- documents ----------------------------------------------------------------------------------------


class Section(Model):
    """A heading-delimited span of a document version's canonical text."""

    heading_path: list[str]
    level: int
    start: int
    end: int
    page: int | None = None


class HiddenSpan(Model):
    """Text present in the file that a reader cannot see (hidden runs, white or tiny text, off-page)."""

    start: int
    end: int
    reason: str


class Document(Model):
    id: int | None = None
    workspace: str = "default"
    name: str
    title: str
    created_at: datetime = Field(default_factory=utcnow)


class DocumentVersion(Model):
    id: int | None = None
    document_id: int | None = None
    number: int = 1
    sha256: str  # of the uploaded bytes: the version's identity
    text_sha256: str  # of the canonical text that citations point into
    media_type: str
    byte_size: int
    parser: str
    created_at: datetime = Field(default_factory=utcnow)


class Passage(Model):
    id: str
    version_id: int | None = None
    document_id: int | None = None
    document_sha256: str
    seq: int
    start: int
    end: int
    text: str
    heading_path: list[str] = Field(default_factory=list)
    page: int | None = None
    hidden: bool = False
    flags: list[str] = Field(default_factory=list)  # e.g. "instruction-like" (rag.instructions)

    @staticmethod
    def make_id(document_sha256: str, start: int, end: int) -> str:
        return sha256_hex(f"{document_sha256}:{start}:{end}")[:24]

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)


class Citation(Model):
    """A verbatim span of a stored document version: `quote == canonical_text[start:end]`."""

    passage_id: str
    document_sha256: str
    start: int
    end: int
    quote: str
    document_name: str | None = None
    heading_path: list[str] = Field(default_factory=list)
    page: int | None = None
    flags: list[str] = Field(default_factory=list)  # the cited passage's flags (rag.instructions)

    @model_validator(mode="after")
    def _span_matches_quote(self) -> "Citation":
        if self.end - self.start != len(self.quote) or self.start < 0:
            raise ValueError("citation offsets do not match the quote length")
        return self


# --- mapping and review -------------------------------------------------------------------------------


class Coverage(str, Enum):
    full = "full"
    partial = "partial"


class Status(str, Enum):
    proposed = "proposed"
    approved = "approved"
    rejected = "rejected"
    needs_review = "needs-review"
    superseded = "superseded"  # a later mapping run ranks other evidence first; kept for the record


class Method(str, Enum):
    offline = "offline"  # lexical + dense retrieval, fused and scored
    llm = "llm"  # candidates judged by a language model
    crosswalk = "crosswalk"  # suggested from an approval on a crosswalk-linked clause
    manual = "manual"  # created by a reviewer


class Proposal(Model):
    id: int | None = None
    workspace: str = "default"
    framework: str
    clause_id: str
    document_id: int
    document_name: str = ""
    document_sha256: str
    citations: list[Citation] = Field(default_factory=list)
    score: float = 0.0
    confidence: float = 0.0
    coverage: Coverage = Coverage.partial
    rationale: str = ""
    method: Method = Method.offline
    status: Status = Status.proposed
    prompt_version: str | None = None
    model: str | None = None
    corpus_version: str = ""
    run_id: str | None = None
    origin_proposal_id: int | None = None
    drift: dict = Field(default_factory=dict)  # what changed when a cited document got a new version
    usage: dict = Field(default_factory=dict)  # language-model tokens spent on this proposal
    flags: list[str] = Field(default_factory=list)  # union of its citations' flags: a warning for the reviewer
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _flags_of_citations(self) -> "Proposal":
        self.flags.extend(dict.fromkeys(f for c in self.citations for f in c.flags if f not in self.flags))
        return self


class Action(str, Enum):
    approve = "approve"
    reject = "reject"
    edit = "edit"
    reopen = "reopen"


class Decision(Model):
    id: int | None = None
    proposal_id: int
    actor: str
    action: Action
    comment: str = ""
    before: dict = Field(default_factory=dict)
    after: dict = Field(default_factory=dict)
    at: datetime = Field(default_factory=utcnow)


class Gap(Model):
    framework: str
    clause_id: str
    title: str
    best_document: str | None = None
    best_confidence: float = 0.0


# --- narrative ----------------------------------------------------------------------------------------


class NarrativeStatement(Model):
    """One sentence of the system description and what it rests on."""

    text: str
    citations: list[Citation] = Field(default_factory=list)
    proposal_ids: list[int] = Field(default_factory=list)
    profile_keys: list[str] = Field(default_factory=list)
    criterion: str | None = None
    cells: list[str] = Field(default_factory=list)  # a row of its section's table (columns), when it has one


class NarrativeSection(Model):
    key: str  # e.g. "DC5"
    title: str
    intro: str = ""
    columns: list[str] = Field(default_factory=list)  # statements are table rows under these headings
    criteria: dict[str, str] = Field(default_factory=dict)  # criterion id -> "id title" for its statements
    statements: list[NarrativeStatement] = Field(default_factory=list)
    subsections: list["NarrativeSection"] = Field(default_factory=list)
