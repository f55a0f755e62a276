"""The parts of the SOC 2 description the system profile supplies, written in the third person with the
organization's name: overview and services, commitments and requirements, components and boundaries,
subservice organizations, user entity controls, incidents and changes. Every statement names the profile
entry it rests on (`profile_keys`); commitments also cite the approved policies that support them.
"""

from __future__ import annotations

from typing import Callable

from rag.models import Citation, NarrativeSection, NarrativeStatement, Proposal
from rag.profile import SystemProfile
from rag.prose import flat

Titles = Callable[[list[str]], str]


def said(text: str, *keys: str, cells: list[str] | None = None, **extra) -> NarrativeStatement:
    return NarrativeStatement(text=flat(text), profile_keys=list(keys), cells=[flat(c) for c in cells or []], **extra)


def _sentence(text: str) -> str:
    text = " ".join(text.split()).rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _is(name: str, description: str) -> str:
    """"Assist is a copilot that ..." from a name and a description that starts with an article."""
    first, _, rest = description.partition(" ")
    if first in ("A", "An", "The") and rest:
        return _sentence(f"{name} is {first.lower()} {rest}")
    return _sentence(f"{name}: {description}")


def overview(p: SystemProfile) -> NarrativeSection:
    org = p.organization
    intro = f"{org.legal_name}"
    if org.short_name and org.short_name != org.legal_name:
        intro += f" (\u201c{org.short_name}\u201d)"
    intro += f" provides the {p.report.system_name}"
    intro += f", headquartered in {org.headquarters}." if org.headquarters else "."
    out = [said(intro, "organization.legal_name", "report.system_name")]
    if p.company_overview:
        out.append(said(p.company_overview, "company_overview"))
    if p.services_provided:
        names = [s.name for s in p.services_provided]
        scope = "services in the scope of this description are" if len(names) > 1 else \
            "service in the scope of this description is"
        out.append(said(f"The {scope} {_and(names)}.", "services_provided"))
    for i, s in enumerate(p.services_provided):
        text = _is(s.name, s.description) + (f" Its users are {s.users[0].lower() + s.users[1:]}." if s.users else "")
        out.append(said(text, f"services_provided[{i}]"))
    return NarrativeSection(key="DC1", title="Company overview and services provided", statements=out)


def _none(section: NarrativeSection, items: list | None, text: str, key: str) -> NarrativeSection:
    """A section whose profile list is empty (it states there are none) or absent (nothing said yet)."""
    if items is not None:
        section.statements.append(said(text, key))
    return section


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def commitments(p: SystemProfile, support: Callable[[list[str]], list[Proposal]], titles: Titles
                ) -> NarrativeSection:
    name = p.name
    out = [said(f"{name} designs its processes and procedures to meet its objectives for the "
                f"{p.report.system_name}. Those objectives are based on the service commitments {name} makes to "
                f"its customers, the laws and regulations that govern the services, and the financial, operational "
                f"and compliance requirements {name} has established for the services.", "organization.legal_name")]
    section = NarrativeSection(key="DC2", title="Principal service commitments and system requirements",
                               statements=out)
    table = NarrativeSection(key="DC2-commitments", title="Principal service commitments",
                             columns=["Commitment", "Related criteria", "Supporting approved policies"])
    for i, c in enumerate(p.principal_service_commitments):
        backing = support(c.criteria)
        cites: list[Citation] = [x.citations[0] for x in backing if x.citations]
        documents = sorted({x.document_name for x in backing})
        table.statements.append(said(
            _sentence(c.commitment), f"principal_service_commitments[{i}]",
            cells=[_sentence(c.commitment), titles(c.criteria) or "not mapped",
                   ", ".join(documents) or "none approved yet"],
            citations=cites, proposal_ids=[x.id for x in backing if x.citations]))
    requirements = NarrativeSection(key="DC2-requirements", title="System requirements", intro=(
        f"{name} has established the following operational requirements that support the commitments.")
        if p.system_requirements else "")
    requirements.statements = [said(_sentence(r.requirement), f"system_requirements[{i}]")
                               for i, r in enumerate(p.system_requirements)]
    section.subsections = [s for s in (table, requirements) if s.statements]
    return section


def components(p: SystemProfile) -> NarrativeSection:
    name = p.name
    infra = NarrativeSection(key="DC3-infrastructure", title="Infrastructure", columns=["Component", "Purpose"])
    if p.infrastructure.hosting:
        infra.intro = " ".join(p.infrastructure.hosting.split())
        infra.statements.append(said(infra.intro, "infrastructure.hosting", cells=["Hosting", infra.intro]))
    infra.statements += [said(_is(c.name, c.purpose), f"infrastructure.components[{i}]", cells=[c.name, c.purpose])
                         for i, c in enumerate(p.infrastructure.components)]
    software = NarrativeSection(key="DC3-software", title="Software", columns=["Software", "Description"],
                                statements=[said(_is(s.name, s.description), f"software[{i}]",
                                                 cells=[s.name, s.description])
                                            for i, s in enumerate(p.software)])
    return NarrativeSection(key="DC3", title="Components of the system", intro=(
        f"The {p.report.system_name} comprises the infrastructure, software, people, data, and processes and "
        f"procedures described below."), subsections=[s for s in (
            infra, software, _people(p, name), _data(p), _processes(p), _boundaries(p)) if s.statements])


def _people(p: SystemProfile, name: str) -> NarrativeSection:
    section = NarrativeSection(key="DC3-people", title="People", columns=["Team", "Responsibilities"])
    if p.people.summary:
        section.intro = " ".join(p.people.summary.split())
        section.statements.append(said(section.intro, "people.summary", cells=["Organization", section.intro]))
    section.statements += [said(f"{t.name}: {_sentence(t.responsibilities)}", f"people.teams[{i}]",
                                cells=[t.name, t.responsibilities]) for i, t in enumerate(p.people.teams)]
    for i, g in enumerate(p.people.governance_bodies):
        text = f"The {g.name} is chaired by the {g.chair}"
        text += f" and meets {g.cadence}." if g.cadence else "."
        if g.members:
            text += f" Its members are {_and(g.members)}."
        if g.responsibilities:
            text += " " + _sentence(g.responsibilities)
        section.statements.append(said(text, f"people.governance_bodies[{i}]", cells=[g.name, text]))
    return section


def _data(p: SystemProfile) -> NarrativeSection:
    section = NarrativeSection(key="DC3-data", title="Data", columns=["Data", "Description", "Classification"])
    section.statements = [said(_is(d.name, d.description), f"data.types[{i}]",
                               cells=[d.name, d.description, d.classification or ""])
                          for i, d in enumerate(p.data.types)]
    section.statements += [said(f"Data classified {c.level}: {_sentence(c.handling)}",
                                f"data.classification_levels[{i}]",
                                cells=[f"Classification level: {c.level}", c.handling, c.level])
                           for i, c in enumerate(p.data.classification_levels)]
    if p.data.retention:
        section.statements.append(said(p.data.retention, "data.retention", cells=["Retention", p.data.retention, ""]))
    return section


def _processes(p: SystemProfile) -> NarrativeSection:
    return NarrativeSection(key="DC3-processes", title="Processes and procedures", columns=["Area", "Summary"],
                            statements=[said(f"{x.area}: {_sentence(x.summary)}", f"processes_and_procedures[{i}]",
                                             cells=[x.area, x.summary])
                                        for i, x in enumerate(p.processes_and_procedures)])


def _boundaries(p: SystemProfile) -> NarrativeSection:
    b = p.system_boundaries
    return NarrativeSection(key="DC3-boundaries", title="System boundaries", columns=["Boundary", "Item"], statements=[
        said(_sentence(x), f"system_boundaries.in_scope[{i}]", cells=["Within the system", x])
        for i, x in enumerate(b.in_scope)] + [
        said(_sentence(x), f"system_boundaries.out_of_scope[{i}]", cells=["Outside the system", x])
        for i, x in enumerate(b.out_of_scope)])


def subservice(p: SystemProfile, titles: Titles) -> NarrativeSection:
    name = p.name
    section = NarrativeSection(key="DC7", title="Subservice organizations and complementary subservice "
                                              "organization controls")
    if not p.subservice_organizations:
        return _none(section, p.subservice_organizations, f"{name} does not use subservice organizations to "
                     "provide the services in the scope of this description.", "subservice_organizations")
    for i, org in enumerate(p.subservice_organizations):
        services = _sentence(org.services[0].lower() + org.services[1:])
        text = f"{name} uses {org.name} for the following services: {services}"
        if org.method == "carve-out":
            text += (f" The description uses the carve-out method for {org.name}: it excludes {org.name}'s "
                     f"controls, and the criteria listed below assume {org.name} operates the complementary "
                     f"subservice organization controls shown.")
        else:
            text += (f" The description uses the inclusive method for {org.name}: {org.name}'s relevant controls "
                     f"are included in this description and in the scope of the examination.")
        section.statements.append(said(text, f"subservice_organizations[{i}]",
                                       f"subservice_organizations[{i}].method"))
    table = NarrativeSection(key="DC7-csocs", title="Complementary subservice organization controls",
                             columns=["Subservice organization", "Method", "Control expected of it",
                                      "Related criteria"])
    for i, org in enumerate(p.subservice_organizations):
        for k, c in enumerate(org.complementary_subservice_organization_controls):
            table.statements.append(said(
                _sentence(c.control),
                f"subservice_organizations[{i}].complementary_subservice_organization_controls[{k}]",
                cells=[org.name, org.method, _sentence(c.control), titles(c.criteria)]))
    section.subsections = [table] if table.statements else []
    return section


def user_entity_controls(p: SystemProfile, titles: Titles) -> NarrativeSection:
    name = p.name
    section = NarrativeSection(key="DC6", title="Complementary user entity controls")
    if not p.complementary_user_entity_controls:
        return _none(section, p.complementary_user_entity_controls, f"The controls of {name} described here do "
                     "not depend on complementary user entity controls.", "complementary_user_entity_controls")
    section.intro = (f"{name}'s controls were designed with the assumption that user entities implement the "
                     "controls below. Each is listed with the criteria whose achievement depends on it.")
    section.columns = ["Complementary user entity control", "Related criteria"]
    section.statements = [said(_sentence(c.control), f"complementary_user_entity_controls[{i}]",
                               cells=[_sentence(c.control), titles(c.criteria)])
                          for i, c in enumerate(p.complementary_user_entity_controls)]
    return section


def incidents(p: SystemProfile, titles: Titles) -> NarrativeSection:
    section = NarrativeSection(key="DC4", title="System incidents")
    if not p.system_incidents:
        return _none(section, p.system_incidents,
                     f"No system incidents occurred during the period that were the result of controls that were not "
                     f"suitably designed or operating effectively, or that otherwise resulted in a significant "
                     f"failure to achieve {p.name}'s service commitments and system requirements.", "system_incidents")
    section.columns = ["Date", "Incident", "Related criteria", "Resolution"]
    section.statements = [said(_sentence(x.description), f"system_incidents[{i}]",
                               cells=[x.date.isoformat(), _sentence(x.description), titles(x.criteria),
                                      x.resolution or ""])
                          for i, x in enumerate(p.system_incidents)]
    return section


def changes(p: SystemProfile) -> NarrativeSection:
    section = NarrativeSection(key="DC9", title="Significant changes to the system during the period")
    if not p.significant_changes_during_period:
        return _none(section, p.significant_changes_during_period, "There were no significant changes to the "
                     "system during the period.", "significant_changes_during_period")
    section.columns = ["Date", "Change"]
    section.statements = [said(_sentence(x.change), f"significant_changes_during_period[{i}]",
                               cells=[x.date.isoformat(), _sentence(x.change)])
                          for i, x in enumerate(p.significant_changes_during_period)]
    return section
