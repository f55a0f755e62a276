"""Seeding for the API and web tests (no tests here): workspaces holding small policies with a canary string
unique to each, hand-made proposals that quote the canary, one approval, and keys of every role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rag.auth import Role, create_key
from rag.context import Context
from rag.ingest.pipeline import ingest_bytes
from rag.models import Action
from rag.review import decide
from rag.samples import add_manual
from rag.settings import Settings

SOC2, ISO27001 = "soc2-tsc-2017", "iso27001-2022"
ACCESS_REVIEW = ("Managers review user access rights every quarter and revoke access within one business day of "
                 "termination.")
MFA = "Multi-factor authentication is required for all remote and privileged access."
TRIAGE = "Security incidents are triaged within one hour by the on-call engineer."
LESSONS = "A post-incident review records the root cause and the lessons learned."


def access_policy(canary: str) -> str:
    return f"""# Access Control Policy

## Purpose

This policy sets the rules for granting and removing access to company systems. Tenant marker {canary}.

## Access reviews

{ACCESS_REVIEW} Reviews are recorded in the ticketing system. The marker {canary} identifies this tenant.

## Authentication

{MFA} Shared accounts are not permitted.
"""


def incident_policy(canary: str) -> str:
    return f"""# Incident Response Plan

## Detection and triage

{TRIAGE} Alerts come from centralized logging. Incident marker {canary}.

## Recovery and lessons learned

{LESSONS} Customers are told about incidents that affect them within 72 hours.
"""


@dataclass
class Tenant:
    name: str
    canary: str
    keys: dict[Role, str] = field(default_factory=dict)
    documents: dict[str, int] = field(default_factory=dict)
    proposals: dict[str, int] = field(default_factory=dict)
    sha256: str = ""

    @property
    def access_doc(self) -> str:
        return f"access-{self.canary.lower()}.md"

    def header(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def seed_tenant(ctx: Context, name: str, canary: str | None = None) -> Tenant:
    tenant = Tenant(name=name, canary=canary or f"CANARY{uuid.uuid4().hex[:10].upper()}")
    ws = ctx.workspace(name, create=True)
    for doc, text in ((tenant.access_doc, access_policy(tenant.canary)),
                      ("incident-response.md", incident_policy(tenant.canary))):
        result = ingest_bytes(ctx, ws, doc, text.encode())
        tenant.documents[doc] = result.document_id
        tenant.sha256 = tenant.sha256 or result.sha256
    actor = f"seed {tenant.canary}"
    marker = f"The marker {tenant.canary} identifies this tenant."
    tenant.proposals = {
        "access": add_manual(ctx, ws, SOC2, "CC6.1", tenant.access_doc, [ACCESS_REVIEW, marker], actor),
        "mfa": add_manual(ctx, ws, ISO27001, "A.8.5", tenant.access_doc, [MFA], actor),
        "triage": add_manual(ctx, ws, SOC2, "CC7.3", "incident-response.md", [TRIAGE], actor),
        "lessons": add_manual(ctx, ws, SOC2, "CC7.5", "incident-response.md", [LESSONS], actor),
        "spare": add_manual(ctx, ws, ISO27001, "A.5.18", tenant.access_doc, [ACCESS_REVIEW], actor),
    }
    decide(ctx, ws, tenant.proposals["access"], actor, Action.approve, f"approved for {tenant.canary}")
    for role in Role:
        tenant.keys[role], _ = create_key(ctx, role, ws, name=f"{role.value} {tenant.canary}")
    return tenant


def seeded_context(base: Path, **settings) -> Context:
    return Context(Settings.load("offline", data_dir=base / "data", max_file_mb=1.0, **settings))
