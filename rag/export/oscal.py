"""OSCAL 1.1 component definition of a workspace: one component (the organization's policy set) whose control
implementations, one per framework, carry the approved mappings as implemented requirements with their
citations; every cited document version is a back-matter resource with its sha256. Plain JSON (validated
against compliance-trestle's OSCAL models in the tests)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from rag.context import Context
from rag.models import Proposal, Status

OSCAL_VERSION = "1.1.2"
NAMESPACE = uuid.UUID("6f1c2d7e-4f3b-5a8e-9c0d-1b2a3c4d5e6f")


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def component_definition(ctx: Context, workspace: str, title: str) -> dict:
    from rag.review import list_proposals

    approved = list_proposals(ctx, workspace, status=Status.approved.value, limit=10**6)
    resources = {c.document_sha256: (p.document_name, c.document_sha256) for p in approved for c in p.citations}
    implementations = []
    for key in sorted({p.framework for p in approved}):
        fw = ctx.catalog.framework(key)
        by_clause: dict[str, list[Proposal]] = {}
        for p in (p for p in approved if p.framework == key):
            by_clause.setdefault(p.clause_id, []).append(p)
        implementations.append({
            "uuid": _uuid(workspace, key), "source": f"https://ctrlmap.invalid/catalogs/{key}",
            "description": f"{fw.name}: controls implemented by the approved mappings of workspace {workspace}.",
            "implemented-requirements": [_requirement(workspace, fw, cid, ps) for cid, ps in sorted(by_clause.items())]})
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    component = {"uuid": _uuid(workspace, "component"), "type": "policy", "title": f"{title} policy set",
                 "description": "The policies a reviewer approved as evidence, with verbatim citations."}
    if implementations:
        component["control-implementations"] = implementations
    return {"component-definition": {
        "uuid": _uuid(workspace, "definition", now),
        "metadata": {"title": title, "last-modified": now, "version": now, "oscal-version": OSCAL_VERSION},
        "components": [component],
        "back-matter": {"resources": [_resource(name, sha) for name, sha in resources.values()]},
    }}


def _requirement(workspace: str, fw, clause_id: str, proposals: list[Proposal]) -> dict:
    clause = fw.clause(clause_id)
    links, remarks, props = [], [], []
    for p in proposals:
        props.append({"name": "mapping", "ns": "https://ctrlmap.invalid/ns", "value": str(p.id),
                      "remarks": f"{p.coverage.value} coverage, confidence {p.confidence:.2f}"})
        for c in p.citations:
            links.append({"href": f"#{_uuid('resource', c.document_sha256)}", "rel": "reference",
                          "text": f"{p.document_name} characters {c.start}-{c.end}"})
            remarks.append(f"{p.document_name} [{c.start}:{c.end}] (sha256 {c.document_sha256}): "
                           f"\"{' '.join(c.quote.split())}\"")
    return {"uuid": _uuid(workspace, fw.key, clause_id), "control-id": _control_id(clause_id),
            "description": f"{clause.label if clause else clause_id}: implemented by "
                           f"{', '.join(sorted({p.document_name for p in proposals}))}.",
            "props": props, "links": links, "remarks": "\n\n".join(remarks)}


def _control_id(clause_id: str) -> str:
    """OSCAL control ids are tokens starting with a letter: lower case, spaces as hyphens, and management-system
    clause numbers (ISO 6.1.3) prefixed with "clause-"."""
    token = clause_id.lower().replace(" ", "-")
    return f"clause-{token}" if token[:1].isdigit() else token


def _resource(name: str, sha: str) -> dict:
    return {"uuid": _uuid("resource", sha), "title": name,
            "rlinks": [{"href": f"texts/{sha}.txt", "media-type": "text/plain",
                        "hashes": [{"algorithm": "SHA-256", "value": sha}]}]}
