"""The SOC 2 system description (Section III of a SOC 2 report), built to the AICPA description criteria
(DC 200: DC1-DC9) from the system profile and from approved mappings only.

Statements about the organization come from the profile (rag.narrate_profile) and name the entry they rest
on. Statements about controls are whole sentences of the passages that approved mappings cite (rag.prose),
each carrying verbatim citations into the stored text, grouped under each criterion's id and title. `check`
re-verifies every statement before export; `readiness` says which DC 200 elements still need input and which
in-scope criteria no approved evidence supports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rag import citations as cites
from rag import instructions
from rag import narrate_profile as from_profile
from rag import prose
from rag.applicability import list_not_applicable
from rag.context import Context
from rag.corpus import passages_by_id
from rag.errors import CitationError
from rag.models import NarrativeSection, NarrativeStatement, Proposal, Status
from rag.profile import SystemProfile, coerce, load
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
ORDER = ["DC1", "DC2", "DC3", "DC5", "DC7", "DC6", "DC4", "DC9", "DC8"]  # as Section III reads
CATEGORY_NAMES = {"A": "availability", "C": "confidentiality", "PI": "processing integrity", "P": "privacy"}
GROUPS = [  # the COSO components first, then control activities, then the additional categories
    ("control-environment", "Control environment", ["CC1"]),
    ("risk-assessment", "Risk assessment", ["CC3"]),
    ("information-communication", "Information and communication", ["CC2"]),
    ("monitoring", "Monitoring activities", ["CC4"]),
    ("control-activities", "Control activities", ["CC5", "CC6", "CC7", "CC8", "CC9"]),
    ("availability", "Additional criteria for availability", ["A"]),
    ("confidentiality", "Additional criteria for confidentiality", ["C"]),
    ("processing-integrity", "Additional criteria for processing integrity", ["PI"]),
    ("privacy", "Additional criteria for privacy", ["P"]),
]


def load_profile(path: Path) -> SystemProfile:
    return load(path)


def narrative(ctx: Context, workspace: str, profile: SystemProfile | dict | None) -> list[NarrativeSection]:
    p = coerce(profile)
    fw = ctx.catalog.framework(SOC2)
    approved = list_proposals(ctx, workspace, framework=SOC2, status=Status.approved.value, limit=10**6)
    by_clause = evidence(ctx, approved)
    not_applicable = {d["clause_id"]: d for d in list_not_applicable(ctx, workspace) if d.get("framework") == SOC2}

    def titles(ids: list[str]) -> str:
        return ", ".join(f"{i} {fw.clause(i).title}" if fw.clause(i) else i for i in ids)

    def support(ids: list[str]) -> list[Proposal]:
        best: dict[str, Proposal] = {}
        for x in sorted((x for x in approved if x.clause_id in ids), key=lambda x: -x.confidence):
            best.setdefault(x.document_name, x)
        return list(best.values())

    built = {"DC5": criteria(ctx, by_clause, p, not_applicable), "DC8": not_relevant(ctx, p, not_applicable)}
    if p is not None:
        built |= {"DC1": from_profile.overview(p), "DC2": from_profile.commitments(p, support, titles),
                  "DC3": from_profile.components(p), "DC7": from_profile.subservice(p, titles),
                  "DC6": from_profile.user_entity_controls(p, titles), "DC4": from_profile.incidents(p, titles),
                  "DC9": from_profile.changes(p)}
    titles_by_key = dict(DC)
    return [built.get(key) or NarrativeSection(key=key, title=titles_by_key[key]) for key in ORDER]


def draft(ctx: Context, workspace: str, profile: SystemProfile | dict | None, narrator=None
          ) -> list[NarrativeSection]:
    """The description to publish: extractive, and with a model configured, the criteria sections redrafted
    in prose whose every sentence is checked (sentences that fail keep their extractive text). `narrator`:
    the rag.narrate_llm.LLMNarrator to redraft with (one with its own client when None)."""
    sections = narrative(ctx, workspace, profile)
    if ctx.settings.use_llm:
        from rag.narrate_llm import redraft

        sections = redraft(ctx, workspace, coerce(profile), sections, narrator)
    return sections


# --- the criteria and their controls ----------------------------------------------------------------------


def evidence(ctx: Context, approved: list[Proposal]) -> dict[str, list[NarrativeStatement]]:
    """Per criterion: the whole statements of the passages its approved mappings cite (only where the approved
    citation verifies), each with verbatim citations of the spans it rests on."""
    texts = _texts(ctx, approved)
    passages = passages_by_id(ctx, {c.passage_id for p in approved for c in p.citations})
    units: dict[str, list[prose.Statement]] = {}
    out: dict[str, list[NarrativeStatement]] = {}
    for p in sorted(approved, key=lambda x: -x.confidence):
        found = out.setdefault(p.clause_id, [])
        for c in p.citations:
            passage, text = passages.get(c.passage_id), texts.get(c.document_sha256)
            if passage is None or text is None or not cites.verify(c, texts) or instructions.withheld(c):
                continue
            if passage.id not in units:
                units[passage.id] = prose.statements(text, passage.start, passage.end)
            for u in units[passage.id]:
                if not any(s < c.end and e > c.start for s, e in u.spans):
                    continue
                same = next((st for st in found if st.text == u.text), None)
                if same is not None:
                    same.proposal_ids += [] if p.id in same.proposal_ids else [p.id]
                    continue
                try:
                    quoted = [cites.cite(passage, text, s, e, c.document_name) for s, e in u.spans]
                except CitationError:  # e.g. an unrendered template placeholder: not policy text
                    continue
                found.append(NarrativeStatement(text=u.text, proposal_ids=[p.id], criterion=p.clause_id,
                                                citations=quoted))
    return out


def _category_of(fw, clause) -> str:
    node = clause
    while node.parent:
        node = fw.clause(node.parent)
    return node.id


def in_scope(category: str, p: SystemProfile | None) -> bool:
    if category.startswith("CC"):
        return True
    return p is not None and CATEGORY_NAMES.get(category, category) in p.report.trust_services_categories


def criteria(ctx: Context, by_clause: dict[str, list[NarrativeStatement]], p: SystemProfile | None,
             not_applicable: dict[str, dict]) -> NarrativeSection:
    fw = ctx.catalog.framework(SOC2)
    org = p.name if p else "the organization"
    section = NarrativeSection(key="DC5", title="Trust services criteria and related controls", intro=(
        f"The trust services criteria in scope and {org}'s related controls follow, criterion by criterion. "
        f"Each control statement is quoted from a policy of {org} that a reviewer approved as evidence for the "
        f"criterion, and its citation gives the document, version and characters quoted."))
    for key, title, categories in GROUPS:
        if not any(in_scope(c, p) for c in categories):
            continue
        sub = NarrativeSection(key=key, title=title)
        missing = []
        for criterion in fw.assessable():
            if _category_of(fw, criterion) not in categories or criterion.id in not_applicable:
                continue
            found = by_clause.get(criterion.id, [])
            sub.criteria[criterion.id] = criterion.label
            sub.statements += found
            missing += [] if found else [criterion.label]
        if missing:
            sub.intro = "Not yet supported by approved evidence: " + ", ".join(missing) + "."
        section.subsections.append(sub)
    return section


def not_relevant(ctx: Context, p: SystemProfile | None, not_applicable: dict[str, dict]) -> NarrativeSection:
    fw = ctx.catalog.framework(SOC2)
    section = NarrativeSection(key="DC8", title="Trust services criteria not relevant to the system")
    relevant = [d for cid, d in sorted(not_applicable.items())
                if fw.clause(cid) and in_scope(_category_of(fw, fw.clause(cid)), p)]
    if relevant:
        section.columns = ["Criterion", "Why it is not relevant", "Decided by"]
        section.statements = [NarrativeStatement(
            text=prose.flat(f"{fw.clause(d['clause_id']).label} is not relevant to the system: {d['reason']}"),
            profile_keys=[f"review:not-applicable:{d['clause_id']}"], criterion=d["clause_id"],
            cells=[fw.clause(d["clause_id"]).label, prose.flat(d["reason"]),
                   f"{d.get('actor', '')}, {str(d.get('at', ''))[:10]}"])
            for d in relevant]
    elif p is not None:
        names = ", ".join(c.title() for c in p.report.trust_services_categories)
        section.statements = [NarrativeStatement(
            text=f"All criteria of the trust services categories in scope ({names}) are relevant to the system.",
            profile_keys=["report.trust_services_categories"])]
    return section


def _texts(ctx: Context, proposals: list[Proposal]) -> dict[str, str]:
    from rag.corpus import texts_by_sha

    return texts_by_sha(ctx, {c.document_sha256 for p in proposals for c in p.citations})


def statements(sections: list[NarrativeSection]):
    for section in sections:
        yield from section.statements
        yield from statements(section.subsections)


# --- checks -----------------------------------------------------------------------------------------------


def check(ctx: Context, workspace: str, sections: list[NarrativeSection],
          profile: SystemProfile | dict | None = None) -> list[str]:
    """Problems with a narrative: a control statement without a verified citation inside a passage an approved
    mapping cites, a profile statement naming an entry the profile lacks, a statement with no source, or a
    rendering artefact. An empty list means every statement traces."""
    approved = {p.id: p for p in list_proposals(ctx, workspace, status=Status.approved.value, limit=10**6)}
    texts = _texts(ctx, list(approved.values()))
    p = coerce(profile)
    na = {d["clause_id"] for d in list_not_applicable(ctx, workspace)}
    problems = []
    for st in statements(sections):
        problems += [f"{a}: {st.text[:60]!r}" for a in prose.artefacts(st.text)]
        for key in st.profile_keys:
            known = key.split(":")[-1] in na if key.startswith("review:") else (p is None or p.has(key))
            if not known:
                problems.append(f"cites profile entry {key!r}, which the profile does not have: {st.text[:60]!r}")
        if st.profile_keys and not st.citations:
            continue
        if not st.citations or not st.proposal_ids:
            problems.append(f"no source: {st.text[:60]!r}")
        elif any(pid not in approved for pid in st.proposal_ids):
            problems.append(f"cites a proposal that is not approved: {st.text[:60]!r}")
        elif not all(cites.verify(c, texts) for c in st.citations):
            problems.append(f"citation does not verify: {st.text[:60]!r}")
        elif not all(c.passage_id in {x.passage_id for pid in st.proposal_ids for x in approved[pid].citations}
                     for c in st.citations):
            problems.append(f"quotes a passage no approved mapping cites: {st.text[:60]!r}")
    return problems


@dataclass
class Readiness:
    elements: list[dict] = field(default_factory=list)  # key, title, status (present / needs input), missing
    criteria: list[dict] = field(default_factory=list)  # id, title, status (supported / unsupported / n/a)
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems and all(e["status"] == "present" for e in self.elements) \
            and all(c["status"] != "unsupported" for c in self.criteria)


def readiness(ctx: Context, workspace: str, profile: SystemProfile | dict | None) -> Readiness:
    """What the description still lacks: each DC 200 element present or needing input (and what), and each
    in-scope criterion supported by approved evidence, not applicable, or unsupported."""
    p = coerce(profile)
    sections = narrative(ctx, workspace, p)
    out = Readiness(elements=elements(sections, p), problems=check(ctx, workspace, sections, p))
    by_key = {s.key: s for s in sections}
    fw = ctx.catalog.framework(SOC2)
    na = {d["clause_id"] for d in list_not_applicable(ctx, workspace) if d.get("framework") == SOC2}
    supported = {st.criterion for st in statements([by_key["DC5"]]) if st.citations}
    for c in fw.assessable():
        if in_scope(_category_of(fw, c), p):
            status = "not applicable" if c.id in na else "supported" if c.id in supported else "unsupported"
            out.criteria.append({"id": c.id, "title": c.title, "status": status})
    return out


def elements(sections: list[NarrativeSection], profile: SystemProfile | dict | None) -> list[dict]:
    """Each DC 200 element of a drafted description: present, or needing input (and what)."""
    p = coerce(profile)
    by_key = {s.key: s for s in sections}
    out = []
    for key, title in DC:
        missing = _missing(key, p, by_key[key])
        out.append({"key": key, "title": title, "status": "needs input" if missing else "present",
                    "missing": ", ".join(missing)})
    return out


_NEEDS = {
    "DC1": [("organization.legal_name", "the organization's name"), ("company_overview", "a company overview"),
            ("services_provided[0]", "at least one service"), ("report.period_start", "the report period")],
    "DC2": [("principal_service_commitments[0]", "principal service commitments"),
            ("system_requirements[0]", "system requirements")],
    "DC3": [("software[0]", "software"), ("people.teams[0]", "people (teams)"), ("data.types[0]", "data types"),
            ("processes_and_procedures[0]", "processes and procedures"),
            ("system_boundaries.in_scope[0]", "the system boundaries (in scope)")],
    "DC4": [("system_incidents", "system_incidents (an empty list states there were none)")],
    "DC6": [("complementary_user_entity_controls", "complementary_user_entity_controls (an empty list states "
                                                   "there are none)")],
    "DC7": [("subservice_organizations", "subservice_organizations (an empty list states there are none)")],
    "DC8": [("report.trust_services_categories", "the trust services categories in scope")],
    "DC9": [("significant_changes_during_period", "significant_changes_during_period (an empty list states "
                                                  "there were none)")],
}


def _missing(key: str, p: SystemProfile | None, section: NarrativeSection) -> list[str]:
    if key == "DC5":
        return [] if any(st.citations for st in statements([section])) else ["approved evidence for any criterion"]
    if p is None:
        return ["a system profile (`ctrlmap profile init`, then `ctrlmap profile set FILE`)"]
    missing = [what for path, what in _NEEDS.get(key, []) if not p.has(path)]
    if key == "DC3" and not (p.infrastructure.hosting or p.infrastructure.components):
        missing.insert(0, "infrastructure")
    return missing
