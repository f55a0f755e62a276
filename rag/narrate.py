"""The SOC 2 system description, organized by the AICPA description criteria (DC 200, DC1-DC9).

Extractive by default: statements about controls are verbatim quotes of approved mappings' citations (and
only approved ones), each carrying its citation; statements about the organization come from the system
profile and name the profile entry they rest on. `check` re-verifies every statement before export.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from rag import citations as cites, instructions
from rag.context import Context
from rag.models import NarrativeSection, NarrativeStatement, Proposal, Status
from rag.review import list_proposals

SOC2 = "soc2-tsc-2017"
DC = [
    ("DC1", "Types of services provided"),
    ("DC2", "Principal service commitments and system requirements"),
    ("DC3", "Components of the system used to provide the services"),
    ("DC4", "System incidents"),
    ("DC5", "Applicable trust services criteria and the related controls"),
    ("DC6", "Complementary user entity controls"),
    ("DC7", "Subservice organizations and complementary subservice organization controls"),
    ("DC8", "Trust services criteria not relevant to the system"),
    ("DC9", "Significant changes to the system during the period"),
]
CATEGORY_NAMES = {"A": "Availability", "C": "Confidentiality", "PI": "Processing Integrity", "P": "Privacy"}


def load_profile(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _profile(text: str, *keys: str) -> NarrativeStatement:
    return NarrativeStatement(text=" ".join(str(text).split()), profile_keys=list(keys))


def _items(profile: dict, key: str) -> list:
    value = profile.get(key) or []
    return value if isinstance(value, list) else [value]


def _describe(item: Any, *fields: str) -> str:
    if not isinstance(item, dict):
        return str(item)
    head = item.get("name") or item.get("id") or item.get("area") or item.get("date") or ""
    body = next((item[f] for f in fields if item.get(f)), "")
    return f"{head}: {body}" if head and body else str(head or body)


def narrative(ctx: Context, workspace: str, profile: dict) -> list[NarrativeSection]:
    approved = list_proposals(ctx, workspace, framework=SOC2, status=Status.approved.value, limit=10**6)
    builders = {"DC1": _dc1, "DC2": _dc2, "DC3": _dc3, "DC4": _dc4, "DC6": _dc6, "DC7": _dc7, "DC8": _dc8,
                "DC9": _dc9}
    sections = []
    for key, title in DC:
        if key == "DC5":
            sections.append(_dc5(ctx, approved, profile))
        else:
            sections.append(NarrativeSection(key=key, title=title, statements=builders[key](profile)))
    return sections


def draft(ctx: Context, workspace: str, profile: dict) -> list[NarrativeSection]:
    """The description to publish: extractive, and with a model configured, DC5 redrafted in prose whose
    every sentence is checked (sentences that fail keep their extractive text)."""
    sections = narrative(ctx, workspace, profile)
    if ctx.settings.use_llm:
        from rag.narrate_llm import redraft

        sections = redraft(ctx, workspace, profile, sections)
    return sections


def _dc1(p: dict) -> list[NarrativeStatement]:
    out = [_profile(p["company_overview"], "company_overview")] if p.get("company_overview") else []
    return out + [_profile(_describe(s, "description"), f"services_provided[{i}]")
                  for i, s in enumerate(_items(p, "services_provided"))]


def _dc2(p: dict) -> list[NarrativeStatement]:
    return ([_profile(_describe(c, "commitment", "description"), f"principal_service_commitments[{i}]")
             for i, c in enumerate(_items(p, "principal_service_commitments"))]
            + [_profile(_describe(r, "requirement", "description"), f"system_requirements[{i}]")
               for i, r in enumerate(_items(p, "system_requirements"))])


def _dc3(p: dict) -> list[NarrativeStatement]:
    out = []
    infra = p.get("infrastructure") or {}
    if infra.get("hosting"):
        out.append(_profile(infra["hosting"], "infrastructure.hosting"))
    out += [_profile(_describe(c, "purpose", "description"), f"infrastructure.components[{i}]")
            for i, c in enumerate(infra.get("components") or [])]
    out += [_profile(_describe(s, "description"), f"software[{i}]") for i, s in enumerate(_items(p, "software"))]
    people = p.get("people") or {}
    if people.get("summary"):
        out.append(_profile(people["summary"], "people.summary"))
    data = p.get("data") or {}
    out += [_profile(_describe(d, "description"), f"data.types[{i}]") for i, d in enumerate(data.get("types") or [])]
    out += [_profile(_describe(x, "summary", "description"), f"processes_and_procedures[{i}]")
            for i, x in enumerate(_items(p, "processes_and_procedures"))]
    return out


def _dc4(p: dict) -> list[NarrativeStatement]:
    incidents = _items(p, "system_incidents")
    if not incidents:
        return [_profile("The system profile lists no system incidents for the period; management must confirm "
                         "this before the description is issued.", "system_incidents")]
    return [_profile(_describe(x, "description", "summary"), f"system_incidents[{i}]")
            for i, x in enumerate(incidents)]


def _dc5(ctx: Context, approved: list[Proposal], profile: dict) -> NarrativeSection:
    fw = ctx.catalog.framework(SOC2)
    texts = _texts(ctx, approved)
    by_clause: dict[str, list[Proposal]] = {}
    for p in approved:
        by_clause.setdefault(p.clause_id, []).append(p)
    section = NarrativeSection(key="DC5", title=dict(DC)["DC5"], intro=(
        "Each statement below quotes a company policy that a reviewer approved as evidence for the criterion "
        "named; the citation gives the document version and character span."))
    for category in [c for c in fw.clauses if c.kind == "category"]:
        sub = NarrativeSection(key=category.id, title=f"{category.id} {category.title}")
        for criterion in [c for c in fw.assessable() if _category_of(fw, c) == category.id]:
            for p in sorted(by_clause.get(criterion.id, []), key=lambda x: -x.confidence):
                for citation in p.citations:
                    if cites.verify(citation, texts) and not instructions.withheld(citation):
                        sub.statements.append(NarrativeStatement(
                            text=as_prose(citation.quote), citations=[citation], proposal_ids=[p.id],
                            criterion=criterion.id))
        uncovered = [c.id for c in fw.assessable() if _category_of(fw, c) == category.id and c.id not in by_clause]
        if uncovered and _category_in_scope(category.id, profile):
            sub.intro = "Not yet supported by approved evidence: " + ", ".join(uncovered) + "."
        if sub.statements or sub.intro:
            section.subsections.append(sub)
    return section


def as_prose(quote: str) -> str:
    """A quote as one line of prose: list markers dropped, list items joined with semicolons."""
    lines = [re.sub(r"^\s*(?:[-*+]|\d+(?:\.\d+)*[.)]?)\s+", "", line).strip() for line in quote.splitlines()]
    return "; ".join(line.rstrip(";") for line in lines if line)


def _category_of(fw, clause) -> str:
    node = clause
    while node.parent:
        node = fw.clause(node.parent)
    return node.id


def _category_in_scope(category: str, profile: dict) -> bool:
    if category.startswith("CC"):
        return True
    wanted = " ".join(str(x) for x in (profile.get("report") or {}).get("trust_services_categories") or []).lower()
    return CATEGORY_NAMES.get(category, category).lower() in wanted


def _dc6(p: dict) -> list[NarrativeStatement]:
    return [_profile(_describe(c, "control", "description"), f"complementary_user_entity_controls[{i}]")
            for i, c in enumerate(_items(p, "complementary_user_entity_controls"))]


def _dc7(p: dict) -> list[NarrativeStatement]:
    out = []
    for i, org in enumerate(_items(p, "subservice_organizations")):
        out.append(_profile(_describe(org, "services"), f"subservice_organizations[{i}]"))
        for k, control in enumerate(org.get("complementary_subservice_organization_controls") or []):
            out.append(_profile(f"{org.get('name')} is expected to: {_describe(control, 'control')}",
                                f"subservice_organizations[{i}].complementary_subservice_organization_controls[{k}]"))
    return out


def _dc8(p: dict) -> list[NarrativeStatement]:
    included = [str(x) for x in (p.get("report") or {}).get("trust_services_categories") or []]
    excluded = [name for name in ("Availability", "Confidentiality", "Processing Integrity", "Privacy")
                if not any(name.lower() in x.lower() for x in included)]
    if not excluded:
        return []
    return [_profile(f"The report covers {', '.join(included)}; the {', '.join(excluded)} criteria are not in "
                     "the scope of this description.", "report.trust_services_categories")]


def _dc9(p: dict) -> list[NarrativeStatement]:
    return [_profile(_describe(c, "change", "description"), f"significant_changes_during_period[{i}]")
            for i, c in enumerate(_items(p, "significant_changes_during_period"))]


def _texts(ctx: Context, proposals: list[Proposal]) -> dict[str, str]:
    from rag.documents import texts_by_sha

    return texts_by_sha(ctx, {c.document_sha256 for p in proposals for c in p.citations})


def statements(sections: list[NarrativeSection]):
    for section in sections:
        yield from section.statements
        yield from statements(section.subsections)


def check(ctx: Context, workspace: str, sections: list[NarrativeSection]) -> list[str]:
    """Problems with a narrative: a policy statement without a verified citation to an approved mapping,
    or a statement with no source at all. An empty list means every statement traces."""
    approved = {p.id: p for p in list_proposals(ctx, workspace, status=Status.approved.value, limit=10**6)}
    texts = _texts(ctx, list(approved.values()))
    problems = []
    for st in statements(sections):
        if st.profile_keys and not st.citations:
            continue
        if not st.citations or not st.proposal_ids:
            problems.append(f"no source: {st.text[:60]!r}")
        elif any(pid not in approved for pid in st.proposal_ids):
            problems.append(f"cites a proposal that is not approved: {st.text[:60]!r}")
        elif not all(cites.verify(c, texts) for c in st.citations):
            problems.append(f"citation does not verify: {st.text[:60]!r}")
    return problems
