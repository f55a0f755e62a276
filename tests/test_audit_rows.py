"""`ctrlmap audit verify` compares the current proposals, decisions and citations with what the audit chain
says was decided: rows edited behind the chain's back (a proposal approved in SQL, a decision deleted or its
actor changed, a quote altered after approval, an approved proposal deleted) are each a finding, exit 6, even
though the chain itself is intact. The API answers 200 with the findings."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from rag.auth import Role, create_key
from rag.settings import Settings
from tests.test_api_seed import seed_tenant, seeded_context
from tests.test_web import sign_in


@pytest.fixture
def seeded(tmp_path):
    ctx = seeded_context(tmp_path)
    tenant = seed_tenant(ctx, "acme")
    ctx.close()
    return tmp_path / "data", tenant


def verify(data) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--data-dir", str(data), "audit", "verify"])
    return result.exit_code, " ".join(result.output.split())


def sql(data, *statements: str) -> None:
    """Run statements straight on the data directory's database (SQLite or PostgreSQL), as a tamperer would."""
    engine = create_engine(Settings.load("offline", data_dir=data).db_url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


def test_untouched_rows_agree_with_the_chain(seeded):
    code, out = verify(seeded[0])
    assert code == 0 and "audit chain intact" in out


TAMPERING = {
    "approved in SQL": ("UPDATE proposals SET status = 'approved' WHERE id = {spare}",
                        "proposal {spare} (acme): status is 'approved', the audit chain recorded 'proposed'"),
    "approval turned into a rejection": ("UPDATE proposals SET status = 'rejected' WHERE id = {access}",
                                         "status is 'rejected', the audit chain recorded 'approved'"),
    "coverage raised": ("UPDATE proposals SET coverage = 'full' WHERE id = {access}",
                        "coverage is 'full', the audit chain recorded 'partial'"),
    "quote altered after approval": ("UPDATE citations SET quote = 'Access is never reviewed.' "
                                     "WHERE proposal_id = {access}", "the citation row was changed after approval"),
    "citation moved": ("UPDATE citations SET start = start + 1 WHERE proposal_id = {access}",
                       "its citations differ from those the audit chain recorded"),
    "decision deleted": ("DELETE FROM decisions WHERE proposal_id = {access}",
                         "the decisions table holds 0 decisions, the audit chain 1"),
    "decision reattributed": ("UPDATE decisions SET actor = 'mallory' WHERE proposal_id = {access}",
                              "reads approve by 'mallory' (approved) in the decisions table"),
}


@pytest.mark.parametrize("case", TAMPERING)
def test_rows_edited_behind_the_chain_are_findings(seeded, case):
    data, tenant = seeded
    statement, expected = TAMPERING[case]
    sql(data, statement.format(**tenant.proposals))
    code, out = verify(data)
    assert code == 6 and expected.format(**tenant.proposals) in out and "Traceback" not in out


def test_deleted_approved_proposal_is_a_finding(seeded):
    data, tenant = seeded
    pid = tenant.proposals["access"]
    sql(data, *[f"DELETE FROM {table} WHERE {column} = {pid}" for table, column in
                (("citations", "proposal_id"), ("decisions", "proposal_id"), ("proposals", "id"))])
    code, out = verify(data)
    assert code == 6 and f"proposal {pid} (acme) was approved in the audit chain but is gone" in out


def test_api_and_page_report_a_damaged_checkpoint_as_a_finding(seeded):
    data, tenant = seeded
    ctx = seeded_context(data.parent)
    root, _ = create_key(ctx, Role.admin, None, name="root admin")
    (data / "audit-head.json").write_text("{garbage")
    with TestClient(create_app(ctx=ctx)) as client:
        response = client.get("/api/audit/verify", headers={"Authorization": f"Bearer {root}"})
        assert response.status_code == 200
        body = response.json()
        assert body["ok"] is False and "checkpoint file audit-head.json is damaged" in body["problem"]
        browser = TestClient(client.app)
        sign_in(browser, root)
        page = browser.get("/w/acme/audit")
        assert page.status_code == 200 and "checkpoint file audit-head.json is damaged" in page.text
    ctx.close()


def test_a_server_s_checkpoint_trails_the_chain_briefly_and_catches_up(tmp_path):
    """With a pacer (as `ctrlmap serve` runs), decisions do not each rewrite the checkpoint file: it follows the
    chain head from a background thread within the interval, a lagging checkpoint is not a finding, and
    stopping the pacer writes the last head."""
    import json
    import time

    from rag import audit, workflows
    from rag.models import Action

    ctx = seeded_context(tmp_path)
    tenant = seed_tenant(ctx, "acme")
    path = audit.checkpoint_path(ctx.settings)
    ctx.checkpoint_pacer = audit.Pacer(ctx, 0.2)
    for proposal in tenant.proposals.values():
        workflows.decide(ctx, "acme", proposal, "pacer test", Action.reject, "trailing checkpoint")
    assert audit.verify_store(ctx).ok
    head = audit.verify_store(ctx).events
    deadline = time.monotonic() + 5
    while json.loads(path.read_text())["seq"] != head and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(path.read_text())["seq"] == head
    workflows.decide(ctx, "acme", tenant.proposals["access"], "pacer test", Action.reopen, "last one")
    ctx.checkpoint_pacer.stop()
    assert json.loads(path.read_text())["seq"] == head + 1
    ctx.close()
