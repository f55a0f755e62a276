"""The review queue at 1,200 proposals through the API: every proposal reachable across pages with a true total,
natural clause order, search and filters, bulk decisions (each its own audit event, skips reported), live
counts, the candidates of a clause settled in one go, deciding twice is a no-op, not applicable is audited."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from rag import audit
from rag.auth import Role, create_key
from rag.context import Context
from rag.queue import natural_key
from rag.settings import Settings
from rag.store import AuditRow, ProposalRow
from tests.seed_queue import seed

N = 1200
WS = "big"


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    ctx = Context(Settings.load("offline", data_dir=tmp_path_factory.mktemp("scale") / "data"))
    docs = seed(ctx, ctx.workspace(WS, create=True), N)
    reviewer, _ = create_key(ctx, Role.reviewer, WS, name="Priya Raman")
    viewer, _ = create_key(ctx, Role.viewer, WS, name="Vic Viewer")
    with TestClient(create_app(ctx=ctx)) as client:
        yield client, {"Authorization": f"Bearer {reviewer}"}, {"Authorization": f"Bearer {viewer}"}, docs
    ctx.close()


def stored(ctx, **where) -> int:
    with ctx.store.session() as s:
        return s.scalar(select(func.count(ProposalRow.id)).where(
            ProposalRow.workspace == WS, *[getattr(ProposalRow, k) == v for k, v in where.items()]))


def events(ctx, action: str) -> int:
    with ctx.store.session() as s:
        return s.scalar(select(func.count(AuditRow.seq)).where(AuditRow.workspace == WS, AuditRow.action == action))


def url(path: str = "") -> str:
    return f"/api/workspaces/{WS}/proposals{path}"


def test_every_proposal_across_pages_with_a_true_total(big):
    client, _, viewer, _ = big
    seen, offset, total = [], 0, None
    while offset is not None:
        page = client.get(url("/page"), params={"limit": 250, "offset": offset}, headers=viewer).json()
        total = page["total"]
        seen += [p["id"] for p in page["items"]]
        offset = page["next_offset"]
    assert total == N == stored(client.app.state.ctx) and len(seen) == len(set(seen)) == N
    listed = client.get(url(), params={"limit": 1000, "framework": "soc2"}, headers=viewer)
    assert int(listed.headers["x-total-count"]) == stored(client.app.state.ctx, framework="soc2-tsc-2017")
    assert "x-next-offset" not in listed.headers and len(listed.json()) == int(listed.headers["x-total-count"])
    first = client.get(url(), params={"limit": 100}, headers=viewer)
    assert first.headers["x-total-count"] == str(N) and first.headers["x-next-offset"] == "100"


def test_clauses_sort_in_natural_order(big):
    client, _, viewer, _ = big
    items = client.get(url(), params={"framework": "soc2", "limit": 1000}, headers=viewer).json()
    ids = list(dict.fromkeys(p["clause_id"] for p in items))
    assert ids == sorted(ids, key=natural_key) and ids.index("A1.1") < ids.index("CC1.1")
    assert natural_key("4.1") < natural_key("10.2") and natural_key("A.5.9") < natural_key("A.5.15")
    iso = client.get(url(), params={"framework": "iso27001", "limit": 1000}, headers=viewer).json()
    order = list(dict.fromkeys(p["clause_id"] for p in iso))
    assert order.index("4.1") < order.index("10.2") and order.index("A.5.9") < order.index("A.5.15")
    by_conf = client.get(url(), params={"sort": "-confidence", "limit": 50}, headers=viewer).json()
    assert [p["confidence"] for p in by_conf] == sorted((p["confidence"] for p in by_conf), reverse=True)
    assert client.get(url(), params={"sort": "size"}, headers=viewer).status_code == 422


def test_search_and_filters(big):
    client, _, viewer, docs = big
    get = lambda **q: client.get(url("/page"), params={"limit": 1000, **q}, headers=viewer).json()  # noqa: E731
    crypto = get(search="cryptograph")
    assert crypto["total"] and all("cryptograph" in p["clause_title"].lower() for p in crypto["items"])
    assert get(search="CC6.1")["total"] == sum(1 for p in get(framework="soc2")["items"]
                                                if "cc6.1" in p["clause_id"].lower())
    quoted = get(search="record the result in the register")
    assert quoted["total"] == N  # every seeded citation quotes it
    doc = docs["encryption-policy.md"]
    by_doc = get(document_id=doc)
    assert by_doc["total"] == stored(client.app.state.ctx, document_id=doc)
    llm = get(method="llm", min_confidence=0.5, max_confidence=0.8)
    assert llm["total"] and all(p["method"] == "llm" and 0.5 <= p["confidence"] <= 0.8 for p in llm["items"])
    area = get(area="access-management")
    ctx = client.app.state.ctx
    assert area["total"] and all(ctx.catalog.clause(p["framework"], p["clause_id"]).area == "access-management"
                                 for p in area["items"])
    assert get(clause_id="CC6.1", framework="soc2-tsc-2017")["total"] == stored(ctx, clause_id="CC6.1")
    bad = client.get(url("/page"), params={"framework": "sox"}, headers=viewer)
    assert bad.status_code == 422 and "soc2" in bad.json()["message"]


def test_bulk_approve_what_matches_a_filter(big):
    client, reviewer, viewer, _ = big
    ctx = client.app.state.ctx
    where = {"framework": "iso27001", "method": "offline", "status": "queue", "min_confidence": 0.5}
    matching = client.get(url("/page"), params={**where, "limit": 1}, headers=viewer).json()["total"]
    before = {c["framework"]: c for c in client.get(url("/counts"), headers=viewer).json()}
    approvals = events(ctx, "proposal.approve")
    done = client.post(url("/bulk"), json={"action": "approve", "filter": where, "comment": "all cite the register"},
                       headers=reviewer)
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["decided"] == matching and result["skipped"] == 0
    assert events(ctx, "proposal.approve") - approvals == matching
    after = {c["framework"]: c for c in result["counts"]}
    assert after["iso27001-2022"]["approved"] == before["iso27001-2022"]["approved"] + matching
    assert after["iso27001-2022"]["to_review"] == before["iso27001-2022"]["to_review"] - matching
    with ctx.store.session() as s:
        chain = audit.verify(s, ctx.settings.data_dir / "audit-head.json")
    assert chain.ok

    again = client.post(url("/bulk"), json={"action": "approve", "ids": result["decided_ids"][:5]},
                        headers=reviewer).json()
    assert again["decided"] == 0 and again["skipped_reasons"] == {"already approved": 5}
    assert events(ctx, "proposal.approve") - approvals == matching
    assert client.post(url("/bulk"), json={"action": "approve", "ids": [1]}, headers=viewer).status_code == 403
    neither = client.post(url("/bulk"), json={"action": "approve"}, headers=reviewer)
    assert neither.status_code == 422 and "either by id or by a filter" in neither.json()["message"]


def test_a_proposal_changed_meanwhile_is_skipped(big):
    client, reviewer, viewer, _ = big
    items = client.get(url(), params={"framework": "nist-ai-rmf-1.0", "status": "proposed", "limit": 2},
                       headers=viewer).json()
    seen = {p["id"]: p["updated_at"] for p in items}
    client.post(url(f"/{items[0]['id']}/reject"), json={"comment": "someone else"}, headers=reviewer)
    client.post(url(f"/{items[0]['id']}/reopen"), json={}, headers=reviewer)
    result = client.post(url("/bulk"), json={"action": "approve", "ids": list(seen), "seen": seen},
                         headers=reviewer).json()
    assert result["decided_ids"] == [items[1]["id"]]
    assert result["skipped_items"] == [{"id": items[0]["id"], "reason": "changed meanwhile"}]


def test_deciding_the_same_way_twice_records_nothing(big):
    client, reviewer, viewer, _ = big
    ctx = client.app.state.ctx
    pid = client.get(url(), params={"framework": "iso42001", "status": "proposed", "limit": 1},
                     headers=viewer).json()[0]["id"]
    first = client.post(url(f"/{pid}/reject"), json={"comment": "no"}, headers=reviewer).json()
    rejections = events(ctx, "proposal.reject")
    second = client.post(url(f"/{pid}/reject"), json={"comment": "no"}, headers=reviewer).json()
    assert not first["unchanged"] and second["unchanged"] and second["note"] == "already rejected: nothing recorded"
    assert events(ctx, "proposal.reject") == rejections
    detail = client.get(url(f"/{pid}"), headers=viewer).json()
    assert [d["action"] for d in detail["decisions"]] == ["reject"]


def test_clause_candidates_side_by_side_and_settled_in_one_go(big):
    client, reviewer, viewer, _ = big
    clause = client.get(url("/clause/soc2/CC6.1"), headers=viewer).json()
    candidates = clause["candidates"]
    assert clause["clause"]["id"] == "CC6.1" and len(candidates) > 1
    assert len({p["document_name"] for p in candidates}) == len(candidates)
    right = candidates[-1]["id"]
    result = client.post(url(f"/{right}/settle"), json={"comment": "the access policy says it"},
                         headers=reviewer).json()
    assert result["decided"] == len(candidates)
    after = {p["id"]: p["status"] for p in client.get(url("/clause/soc2-tsc-2017/CC6.1"), headers=viewer)
             .json()["candidates"]}
    assert after.pop(right) == "approved" and set(after.values()) == {"rejected"}


def test_not_applicable_needs_a_reason_and_is_audited(big):
    client, reviewer, viewer, _ = big
    ctx = client.app.state.ctx
    na = f"/api/workspaces/{WS}/not-applicable"
    cover = lambda: client.get(f"/api/workspaces/{WS}/coverage", params={"framework": "soc2"},  # noqa: E731
                               headers=viewer).json()
    before = cover()
    assert client.put(f"{na}/soc2/P4.1", json={"reason": ""}, headers=reviewer).status_code == 422
    marked = client.put(f"{na}/soc2/P4.1", json={"reason": "We hold no personal data of consumers."},
                        headers=reviewer)
    assert marked.status_code == 200 and marked.json()["actor"].startswith("Priya Raman")
    assert marked.json()["framework"] == "soc2-tsc-2017"
    assert client.put(f"{na}/soc2/P4.1", json={"reason": "We hold no personal data of consumers."},
                      headers=reviewer).status_code == 200
    assert events(ctx, "clause.not-applicable") == 1  # the same reason again records nothing
    listed = client.get(na, headers=viewer).json()
    assert [(m["framework"], m["clause_id"]) for m in listed] == [("soc2-tsc-2017", "P4.1")]
    counts = {c["framework"]: c for c in client.get(url("/counts"), headers=viewer).json()}
    assert counts["soc2-tsc-2017"]["not_applicable"] == 1
    assert client.get(url("/clause/soc2/P4.1"), headers=viewer).json()["not_applicable"]["reason"]
    after = cover()
    assert next(c for c in after["clauses"] if c["clause_id"] == "P4.1")["status"] == "not-applicable"
    assert after["frameworks"][0]["not_applicable"] == 1
    assert after["frameworks"][0]["awaiting"] == before["frameworks"][0]["awaiting"] - 1
    assert client.put(f"{na}/soc2/ZZ9", json={"reason": "x"}, headers=reviewer).status_code == 422
    assert client.delete(f"{na}/soc2/P4.1", headers=reviewer).status_code == 204
    assert events(ctx, "clause.applicable") == 1 and client.get(na, headers=viewer).json() == []
    assert client.delete(f"{na}/soc2/P4.1", headers=reviewer).status_code == 404


def test_cli_pages_shows_reopens_and_decides_in_bulk(tmp_path):
    from typer.testing import CliRunner

    from api.cli import app as cli

    ctx = Context(Settings.load("offline", data_dir=tmp_path / "data"))
    seed(ctx, ctx.workspace("cli", create=True), 130)
    ctx.close()
    run = lambda *a: CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "-w", "cli", *a])  # noqa: E731
    listed = run("review", "list", "--framework", "soc2")
    assert listed.exit_code == 0, listed.output
    assert "61 proposal(s) match" in listed.output and "showing 1-50 of 61; next page: add --offset 50" in listed.output
    last = run("review", "list", "-f", "soc2", "--offset", "50")
    assert "showing 51-61 of 61" in last.output and "next page" not in last.output
    pid = str(ctx_first_id(run))
    assert run("review", "approve", pid, "--as", "ana").exit_code == 0
    twice = run("review", "approve", pid, "--as", "ana")
    assert twice.exit_code == 0 and "already approved: nothing recorded" in twice.output
    shown = run("review", "show", pid)
    assert shown.exit_code == 0 and "approve by ana" in shown.output and "Owners review" in shown.output
    assert "now proposed" in run("review", "reopen", pid, "-m", "second look", "--as", "ana").output
    bulk = run("review", "bulk", "reject", "-f", "iso27001", "--method", "llm", "-m", "weak", "--as", "ana", "--yes")
    assert bulk.exit_code == 0, bulk.output
    decided = int(bulk.output.split()[0])
    assert decided > 0 and "0 skipped" in bulk.output
    counts = run("review", "counts", "--json")
    rmf = next(c for c in __import__("json").loads(counts.stdout) if c["framework"] == "iso27001-2022")
    assert rmf["rejected"] == decided
    na = run("review", "na", "mark", "iso27001", "A.7.4", "--reason", "No offices of our own.", "--as", "ana")
    assert na.exit_code == 0 and "iso27001-2022 A.7.4 marked not applicable by ana" in na.output
    assert run("review", "na", "mark", "iso27001", "A.7.4", "--reason", " ").exit_code == 2
    assert "No offices of our own." in run("review", "na", "list").output
    assert run("review", "list", "-f", "sox").exit_code == 2


def ctx_first_id(run) -> int:
    import json

    return json.loads(run("review", "list", "-f", "soc2", "--limit", "1", "--json").stdout)[0]["id"]
