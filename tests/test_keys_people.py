"""People, not keys: `ctrlmap keys create` needs the holder's name (or takes it from CTRLMAP_ACTOR), the API
refuses a key without one, and a decision made with the key is recorded under the person's name in the
decisions table and the audit chain."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from rag.auth import Role, create_key
from rag.store import AuditRow, DecisionRow
from tests.test_api_seed import seed_tenant, seeded_context


def keys_create(data, *args, env=None):
    result = CliRunner().invoke(app, ["--data-dir", str(data), "keys", "create", "--role", "reviewer",
                                      "--workspace", "acme", *args, "--json"], env=env)
    return result.exit_code, result.output


def test_key_without_a_name_is_refused(tmp_path):
    code, out = keys_create(tmp_path / "data")
    assert code == 2 and "needs the name of the person" in out and "Traceback" not in out


def test_decisions_record_the_person_holding_the_key(tmp_path):
    ctx = seeded_context(tmp_path)
    tenant = seed_tenant(ctx, "acme")
    code, out = keys_create(tmp_path / "data", env={"CTRLMAP_ACTOR": "Priya Raman"})
    assert code == 0 and '"name": "Priya Raman"' in out
    key = out.split('"key": "')[1].split('"')[0]
    root, _ = create_key(ctx, Role.admin, None, name="Root Admin")
    with TestClient(create_app(ctx=ctx)) as client:
        refused = client.post("/api/keys", json={"role": "viewer", "workspace": "acme"},
                              headers={"Authorization": f"Bearer {root}"})
        assert refused.status_code == 422
        pid = tenant.proposals["spare"]
        decided = client.post(f"/api/workspaces/acme/proposals/{pid}/approve", json={"comment": "fits"},
                              headers={"Authorization": f"Bearer {key}"})
        assert decided.status_code == 200
    with ctx.store.session() as s:
        decision = s.scalars(select(DecisionRow).where(DecisionRow.proposal_id == pid)).one()
        event = s.scalars(select(AuditRow).where(AuditRow.target == f"proposal:{pid}",
                                                 AuditRow.action == "proposal.approve")).one()
    assert decision.actor.startswith("Priya Raman") and event.actor == decision.actor
    ctx.close()
