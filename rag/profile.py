"""The system profile: what the organization says about its system (services, commitments, components,
boundaries, people, data, subservice organizations, user entity controls, incidents, changes, the report's
period and type), which the SOC 2 description states beside the approved evidence.

One documented pydantic schema (`SystemProfile`, unknown keys rejected); `parse` reports every problem with
its path in the file (and its line), never a traceback; profiles are stored per workspace, versioned, and
each stored version is an audit event in the same transaction.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func, select

from rag.context import Context
from rag.errors import InvalidInput
from rag.models import sha256_hex

CRITERION = re.compile(r"^(CC[1-9]\.\d{1,2}|A1\.\d|C1\.\d|PI1\.\d|P[1-8]\.\d)$")
CATEGORIES = ("security", "availability", "confidentiality", "processing integrity", "privacy")


class ProfileInvalid(InvalidInput):
    """A system profile with problems; `problems` holds one line per problem, each naming its path."""

    code = "profile_invalid"

    def __init__(self, problems: list[str], source: str = "profile") -> None:
        super().__init__(f"{len(problems)} problem(s) in {source}: " + "; ".join(problems[:3]), target=None)
        self.problems = problems

    def as_dict(self) -> dict:
        return {**super().as_dict(), "problems": self.problems}


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _criteria() -> Any:
    return Field(default_factory=list, description="SOC 2 criteria ids this entry relates to, e.g. CC6.1.")


class Mapped(Part):
    criteria: list[str] = _criteria()

    @field_validator("criteria")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if not CRITERION.match(c)]
        if bad:
            raise ValueError(f"not a SOC 2 criterion id: {', '.join(bad)} (expected e.g. CC6.1, A1.2, C1.1)")
        return value


class Organization(Part):
    legal_name: str = Field(description="Legal name, used in the description's third-person statements.")
    short_name: str | None = Field(None, description="How the description refers to the organization after first use.")
    headquarters: str | None = None
    other_locations: list[str] = Field(default_factory=list)
    employees: int | None = Field(None, ge=0)
    founded: int | None = Field(None, ge=1800, le=2100)
    website: str | None = None

    @property
    def name(self) -> str:
        return self.short_name or self.legal_name


class Report(Part):
    type: Literal["SOC 2 Type 1", "SOC 2 Type 2"] = Field(
        "SOC 2 Type 2", description="Type 1 (as of a date) or Type 2 (a period).")
    system_name: str = Field(description="The name of the system the description covers.")
    trust_services_categories: list[Literal[CATEGORIES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["security"], description="Categories in scope; security is always included.")
    period_start: date | None = Field(None, description="Type 2: first day of the period; Type 1: the as-of date.")
    period_end: date | None = Field(None, description="Type 2: last day of the period.")

    @field_validator("trust_services_categories", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError("write the categories as a list, e.g. [security, availability]")
        return [v.lower() if isinstance(v, str) else v for v in value or []]

    @model_validator(mode="after")
    def _period(self) -> "Report":
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self


class Service(Part):
    name: str
    description: str
    users: str | None = Field(None, description="Who uses the service.")


class Commitment(Mapped):
    id: str = Field(description="A short key, e.g. availability.")
    commitment: str = Field(description="What the organization commits to its customers, one or two sentences.")


def _text_as(field: str):
    """A model validator letting a plain string stand for {field: string}."""
    return model_validator(mode="before")(classmethod(lambda cls, value: {field: value} if isinstance(value, str)
                                                      else value))


class Requirement(Mapped):
    requirement: str
    _plain = _text_as("requirement")


class Component(Part):
    name: str
    purpose: str


class Software(Part):
    name: str
    description: str


class Infrastructure(Part):
    hosting: str | None = None
    components: list[Component] = Field(default_factory=list)


class Team(Part):
    name: str
    responsibilities: str


class GovernanceBody(Part):
    name: str
    chair: str
    members: list[str] = Field(default_factory=list)
    cadence: str | None = None
    responsibilities: str | None = None


class People(Part):
    summary: str | None = None
    teams: list[Team] = Field(default_factory=list)
    governance_bodies: list[GovernanceBody] = Field(default_factory=list)


class DataType(Part):
    name: str
    description: str
    classification: str | None = None


class ClassificationLevel(Part):
    level: str
    handling: str


class Data(Part):
    types: list[DataType] = Field(default_factory=list)
    classification_levels: list[ClassificationLevel] = Field(default_factory=list)
    retention: str | None = None


class Process(Part):
    area: str
    summary: str


class ControlExpectation(Mapped):
    control: str
    _plain = _text_as("control")


class Subservice(Part):
    name: str
    services: str
    method: Literal["carve-out", "inclusive"] = Field(description="How the description treats its controls.")
    complementary_subservice_organization_controls: list[ControlExpectation] = Field(default_factory=list)


class Boundaries(Part):
    in_scope: list[str] = Field(default_factory=list)
    out_of_scope: list[str] = Field(default_factory=list)


class Incident(Part):
    date: date
    description: str
    criteria: list[str] = _criteria()
    resolution: str | None = None


class Change(Part):
    date: date
    change: str


class SystemProfile(Part):
    """Everything the description says about the organization that policies cannot show.

    `system_incidents`, `significant_changes_during_period`, `subservice_organizations` and
    `complementary_user_entity_controls`: an empty list states there are none; leaving the key out means
    nobody has said yet (and `narrate --check` asks for it)."""

    organization: Organization
    report: Report
    company_overview: str | None = None
    services_provided: list[Service] = Field(default_factory=list)
    principal_service_commitments: list[Commitment] = Field(default_factory=list)
    system_requirements: list[Requirement] = Field(default_factory=list)
    infrastructure: Infrastructure = Field(default_factory=Infrastructure)
    software: list[Software] = Field(default_factory=list)
    people: People = Field(default_factory=People)
    data: Data = Field(default_factory=Data)
    processes_and_procedures: list[Process] = Field(default_factory=list)
    system_boundaries: Boundaries = Field(default_factory=Boundaries)
    subservice_organizations: list[Subservice] | None = None
    complementary_user_entity_controls: list[ControlExpectation] | None = None
    system_incidents: list[Incident] | None = None
    significant_changes_during_period: list[Change] | None = None

    @property
    def name(self) -> str:
        return self.organization.name

    def has(self, key_path: str) -> bool:
        """Whether a profile entry such as `subservice_organizations[0].method` exists (and is not None)."""
        node: Any = self.model_dump()
        for part in re.findall(r"[^.\[\]]+|\[\d+\]", key_path):
            if part.startswith("["):
                i = int(part[1:-1])
                if not isinstance(node, list) or i >= len(node):
                    return False
                node = node[i]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return False
        return node is not None

    def title(self) -> str:
        return f"{self.organization.legal_name}: description of the {self.report.system_name}"

    def period(self) -> str:
        r = self.report
        if r.type == "SOC 2 Type 1" and r.period_start:
            return f"{r.type} report as of {r.period_start:%B %-d, %Y}"
        if r.period_start and r.period_end:
            return f"{r.type} report for the period {r.period_start:%B %-d, %Y} to {r.period_end:%B %-d, %Y}"
        return r.type


# --- reading and checking -------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML without implicit timestamps: dates stay text and pydantic checks them (a bad date is a problem
    with a path, not a crash in the YAML library)."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not (isinstance(part, str) and ("[" in part or part.startswith("function-"))):
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _lines(text: str) -> dict[str, int]:
    """Path in the file -> 1-based line, from the YAML node tree."""
    out: dict[str, int] = {}

    def walk(node, path: str) -> None:
        out.setdefault(path or "(top level)", node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = f"{path}.{key.value}" if path else str(key.value)
                out[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, f"{path}[{i}]")

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return out
    if root is not None:
        walk(root, "")
    return out


def _message(error: dict) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; `ctrlmap profile init` lists the keys)"
    if kind == "missing":
        return "required but missing"
    if kind.startswith("date"):
        return f"not a valid date ({error.get('input')!r}); write YYYY-MM-DD"
    if kind == "literal_error":
        return msg.replace("Input should be", "must be")
    return msg.removeprefix("Value error, ")


def problems_of(text: str) -> list[str]:
    """Every problem of a profile's YAML text, one line each: `path (line N): what is wrong`."""
    if not text.strip():
        return ["(file): the file is empty; `ctrlmap profile init` writes a starter"]
    try:
        data = _yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        return [f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})"]
    if not isinstance(data, dict):
        return [f"(top level): expected a mapping of keys (organization, report, ...), found {type(data).__name__}"]
    try:
        SystemProfile.model_validate(data)
    except ValidationError as exc:
        lines = _lines(text)
        out = []
        for error in exc.errors():
            path = _loc(error["loc"])
            line = lines.get(path) or lines.get(path.rsplit(".", 1)[0].rsplit("[", 1)[0])
            out.append(f"{path}{f' (line {line})' if line else ''}: {_message(error)}")
        return out
    return []


def parse(text: str, source: str = "profile") -> SystemProfile:
    problems = problems_of(text)
    if problems:
        raise ProfileInvalid(problems, source)
    return SystemProfile.model_validate(_yaml(text))


def coerce(profile: SystemProfile | dict | None) -> SystemProfile | None:
    """A profile from a model, a mapping (validated) or nothing."""
    if profile is None or isinstance(profile, SystemProfile):
        return profile
    if not profile:
        return None
    return parse(yaml.safe_dump(profile, sort_keys=False, allow_unicode=True))


def load(path) -> SystemProfile:
    from pathlib import Path

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the profile: {exc}", file=str(path)) from None
    return parse(text, str(path))


# --- storing ------------------------------------------------------------------------------------------


def save(ctx: Context, workspace: str, text: str, actor: str) -> dict:
    """Store a new version of the workspace's profile (validated first; nothing stored when it has problems)
    and record it in the audit chain in the same transaction."""
    from rag import audit
    from rag.store import ProfileRow

    profile = parse(text)
    digest = sha256_hex(text)
    with ctx.store.session(write=True) as s:
        last = s.scalar(select(func.max(ProfileRow.version)).where(ProfileRow.workspace == workspace)) or 0
        row = ProfileRow(workspace=workspace, version=last + 1, text=text, sha256=digest, actor=actor)
        s.add(row)
        audit.append(s, workspace=workspace, actor=actor, action="profile.update", target=f"profile:{workspace}",
                     after={"version": last + 1, "sha256": digest, "organization": profile.organization.legal_name})
    with ctx.store.session() as s:
        audit.checkpoint(s, ctx.settings.data_dir / "audit-head.json")
    return {"workspace": workspace, "version": last + 1, "sha256": digest, "actor": actor}


def stored_text(ctx: Context, workspace: str) -> str | None:
    from rag.store import ProfileRow

    with ctx.store.session() as s:
        return s.scalar(select(ProfileRow.text).where(ProfileRow.workspace == workspace)
                        .order_by(ProfileRow.version.desc()).limit(1))


def versions(ctx: Context, workspace: str) -> list[dict]:
    from rag.store import ProfileRow

    with ctx.store.session() as s:
        rows = s.scalars(select(ProfileRow).where(ProfileRow.workspace == workspace).order_by(ProfileRow.version))
        return [{"version": r.version, "sha256": r.sha256, "actor": r.actor, "at": r.created_at} for r in rows]


def current(ctx: Context, workspace: str) -> SystemProfile | None:
    """The workspace's latest stored profile; the demo workspace falls back to the sample organization's."""
    text = stored_text(ctx, workspace)
    if text is not None:
        return parse(text, f"stored profile of {workspace}")
    from rag.samples import sample_dir

    if workspace == "demo":
        with sample_dir() as sample:
            return load(sample / "system-profile.yaml")
    return None


def starter() -> str:
    """A commented starter profile (valid as written; replace every example value)."""
    from importlib import resources

    return resources.files("rag").joinpath("profile-starter.yaml").read_text(encoding="utf-8")
