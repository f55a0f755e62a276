"""Review: decisions with their audit events, crosswalk propagation, drift after a new version, manual
mappings, and that nothing automatic ever approves."""

import pytest

from rag import audit
from rag.errors import InvalidInput, NotFound
from rag.ingest.pipeline import ingest_paths
from rag.mapping import propose
from rag.models import Action, Method, Status
from rag.review import Edit, apply_drift, decide, get_proposal, list_proposals, save_run
from rag.samples import add_manual

ACCESS = """# Access Control Policy

## Provisioning

Access to production systems is granted on a least-privilege basis after written manager approval.
Every account belongs to one named person and uses single sign-on with multi-factor authentication.

## Reviews

System owners review all user access every quarter and remove anything no longer needed.
Leavers lose all access within one business day of their last day.
"""
INCIDENT = """# Incident Response Plan

## Detection and triage

Security alerts page the on-call engineer, who confirms and classifies the incident within one hour.

## Notification

Customers affected by a confirmed breach are told within 48 hours of confirmation.
"""


@pytest.fixture
def mapped(ctx, tmp_path):
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "access.md").write_text(ACCESS)
    (folder / "incident.md").write_text(INCIDENT)
    ws = ctx.workspace("rev", create=True)
    ingest_paths(ctx, ws, [str(folder)])
    run = propose(ctx, ws, ["soc2-tsc-2017", "iso27001-2022"])
    save_run(ctx, ws, run)
    return ctx, ws, folder


def _proposal(ctx, ws, clause, document):
    return next(p for p in list_proposals(ctx, ws, clause_id=clause) if p.document_name == document)


def test_mapping_never_approves(mapped):
    ctx, ws, _ = mapped
    proposals = list_proposals(ctx, ws)
    assert proposals and all(p.status == Status.proposed for p in proposals)


def test_approve_records_decision_and_propagates(mapped):
    ctx, ws, _ = mapped
    p = _proposal(ctx, ws, "CC6.2", "access.md")
    approved = decide(ctx, ws, p.id, "dana", Action.approve, "meets the criterion")
    assert approved.status == Status.approved
    suggested = [x for x in list_proposals(ctx, ws, framework="iso27001-2022") if x.method == Method.crosswalk]
    assert suggested and all(x.status == Status.proposed and x.origin_proposal_id == p.id for x in suggested)
    cited = [(c.passage_id, c.document_sha256, c.start, c.end, c.quote, c.flags) for c in approved.citations]
    assert len(cited) > 1  # so that their order is checked too
    for x in suggested:  # each carries the approved evidence, citation for citation, in the same order
        assert [(c.passage_id, c.document_sha256, c.start, c.end, c.quote, c.flags)
                for c in get_proposal(ctx, ws, x.id).citations] == cited
    with ctx.store.session() as s:
        events = audit.events(s, ws)
        assert audit.verify(s).ok
    actions = [e["action"] for e in events]
    assert "proposal.approve" in actions and "proposal.propagate" in actions
    approve = next(e for e in events if e["action"] == "proposal.approve")
    assert approve["actor"] == "dana" and approve["before"]["status"] == "proposed"
    assert approve["after"]["status"] == "approved" and len(approve["detail"]["document_sha256"]) == 64


def test_crosswalk_suggestions_are_weighed_against_the_pipelines_own_evidence(mapped):
    from sqlalchemy import select

    from rag.store import EvidenceRow

    ctx, ws, _ = mapped
    p = _proposal(ctx, ws, "CC6.2", "access.md")
    decide(ctx, ws, p.id, "dana", Action.approve)
    suggested = [x for x in list_proposals(ctx, ws, framework="iso27001-2022") if x.method == Method.crosswalk]
    assert suggested
    with ctx.store.session() as s:
        for x in suggested:
            stored = s.execute(select(EvidenceRow.document_id, EvidenceRow.confidence).where(
                EvidenceRow.workspace == ws, EvidenceRow.framework == x.framework,
                EvidenceRow.clause_id == x.clause_id)).all()
            assert stored, "a mapping run stores each clause's best documents"
            own = {d: c for d, c in stored}.get(x.document_id, min(c for _, c in stored))
            assert x.confidence <= own + 1e-9 and x.confidence <= p.confidence * 0.9 + 1e-9
            assert "ctrlmap" in x.rationale and x.clause_id in x.rationale


def test_edit_requires_verbatim_quotes(mapped):
    ctx, ws, _ = mapped
    p = _proposal(ctx, ws, "CC6.2", "access.md")
    edited = decide(ctx, ws, p.id, "dana", Action.edit,
                    edit=Edit(quotes=["Leavers lose all access within one business day of their last day."]))
    assert edited.citations[0].quote.startswith("Leavers lose all access")
    with pytest.raises(InvalidInput, match="verbatim"):
        decide(ctx, ws, p.id, "dana", Action.edit, edit=Edit(quotes=["Leavers keep access forever."]))


def test_an_edit_of_coverage_and_rationale_is_stored_with_its_decision_and_event(mapped):
    from rag.review import history

    ctx, ws, _ = mapped
    p = _proposal(ctx, ws, "CC6.2", "access.md")
    other = "full" if p.coverage.value != "full" else "partial"
    edited = decide(ctx, ws, p.id, "dana", Action.edit, "read it again",
                    edit=Edit(coverage=other, rationale="Quarterly reviews and one-day removal."))
    stored = get_proposal(ctx, ws, p.id)
    assert stored.coverage.value == edited.coverage.value == other
    assert stored.rationale == "Quarterly reviews and one-day removal."
    assert stored.citations == p.citations and stored.status == p.status and stored.updated_at > p.updated_at
    made = history(ctx, ws, p.id)[-1]
    assert made.action == Action.edit and made.before["coverage"] == p.coverage.value
    assert made.after["coverage"] == other
    with ctx.store.session() as s:
        event = audit.events(s, ws, limit=1)[0]
    assert event["action"] == "proposal.edit" and event["after"]["coverage"] == other


def test_unknown_proposal_and_missing_actor(mapped):
    ctx, ws, _ = mapped
    with pytest.raises(NotFound):
        decide(ctx, ws, 999999, "dana", Action.approve)
    p = list_proposals(ctx, ws)[0]
    with pytest.raises(InvalidInput):
        decide(ctx, ws, p.id, "", Action.approve)
    with pytest.raises(NotFound):
        get_proposal(ctx, "other-workspace", p.id)


def test_manual_mapping_needs_a_real_quote(mapped):
    ctx, ws, _ = mapped
    pid = add_manual(ctx, ws, "soc2-tsc-2017", "CC7.4", "incident.md",
                     ["Customers affected by a confirmed breach are told within 48 hours of confirmation."], "dana")
    assert get_proposal(ctx, ws, pid).method == Method.manual
    with pytest.raises(InvalidInput):
        add_manual(ctx, ws, "soc2-tsc-2017", "CC7.4", "incident.md", ["Customers are never told."], "dana")


def test_drift_sends_changed_citations_back_to_review(mapped):
    ctx, ws, folder = mapped
    kept = _proposal(ctx, ws, "CC6.2", "access.md")
    decide(ctx, ws, kept.id, "dana", Action.edit, edit=Edit(
        quotes=["Access to production systems is granted on a least-privilege basis after written manager approval."]))
    decide(ctx, ws, kept.id, "dana", Action.approve)
    changed = _proposal(ctx, ws, "CC6.3", "access.md")
    decide(ctx, ws, changed.id, "dana", Action.edit, edit=Edit(
        quotes=["System owners review all user access every quarter and remove anything no longer needed."]))
    decide(ctx, ws, changed.id, "dana", Action.approve)

    (folder / "access.md").write_text(ACCESS.replace("every quarter", "every year") + "\n## Exceptions\n\nNone.\n")
    result = ingest_paths(ctx, ws, [str(folder / "access.md")])[0]
    assert result.status == "new-version" and result.dropped_passages
    assert any("Reviews" in s for s in result.changed_sections)
    report = result.drift  # applied in the transaction that stored the version
    assert changed.id in report.needs_review and kept.id in report.reanchored
    assert apply_drift(ctx, ws, result.document_id).needs_review == []  # nothing left to do
    back = get_proposal(ctx, ws, changed.id)
    assert back.status == Status.needs_review and back.drift["missing_quotes"]
    still = get_proposal(ctx, ws, kept.id)
    assert still.status == Status.approved and still.document_sha256 == result.sha256
    with ctx.store.session() as s:
        assert audit.verify(s).ok


def test_people_deciding_one_proposal_at_once_are_recorded_one_after_the_other(mapped):
    """The proposal is locked while it is decided (PostgreSQL; SQLite writers are exclusive): of four people
    approving it at the same moment, one decision is recorded and the others find it already approved."""
    import threading

    from rag.review import history, record

    ctx, ws, _ = mapped
    pid = list_proposals(ctx, ws)[0].id
    start, outcomes = threading.Barrier(4), []

    def approve(n: int) -> None:
        start.wait()
        outcomes.append(record(ctx, ws, pid, f"reviewer {n}", Action.approve, "at once"))

    threads = [threading.Thread(target=approve, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.changed for o in outcomes) == [False, False, False, True]
    assert {o.skipped for o in outcomes if not o.changed} == {"already approved"}
    assert [d.action for d in history(ctx, ws, pid)] == [Action.approve]
    assert audit.verify_store(ctx).ok


def test_decisions_made_at_once_each_get_their_own_outcome(mapped):
    """Decisions made at the same moment share transactions (rag/group_commit.py), yet each caller gets its
    own result: every decision and its audit event is stored, a missing proposal is that caller's NotFound
    alone, and the chain stays one chain."""
    import threading

    from rag.review import history, record

    ctx, ws, _ = mapped
    ids = [p.id for p in list_proposals(ctx, ws, status=Status.proposed.value)][:8]
    work = [(pid, Action.approve if i % 2 else Action.reject) for i, pid in enumerate(ids)] + [(10**9, Action.reject)]
    start, results = threading.Barrier(len(work)), {}

    def decide_one(pid: int, action: Action) -> None:
        start.wait()
        try:
            results[pid] = record(ctx, ws, pid, f"reviewer of {pid}", action, "together")
        except NotFound as exc:
            results[pid] = exc

    threads = [threading.Thread(target=decide_one, args=w) for w in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert isinstance(results[10**9], NotFound)
    for pid, action in work[:-1]:
        assert results[pid].changed and results[pid].proposal.status.value == {"approve": "approved",
                                                                                 "reject": "rejected"}[action.value]
        assert [(d.action, d.actor) for d in history(ctx, ws, pid)] == [(action, f"reviewer of {pid}")]
    with ctx.store.session() as s:
        events = [e for e in audit.events(s, ws, limit=1000) if e["action"] in ("proposal.approve",
                                                                                 "proposal.reject")]
    assert sorted(int(e["target"].split(":")[1]) for e in events) == sorted(ids)
    assert audit.verify_store(ctx).ok


def test_opening_a_proposal_brings_its_decisions_as_stored(mapped):
    """On PostgreSQL the proposal's decisions come with it, as JSON in the same query; they must read back
    exactly as the decisions table holds them (SQLite reads them with a query of their own)."""
    from rag import review_sql

    ctx, ws, _ = mapped
    pid = list_proposals(ctx, ws, status=Status.proposed.value)[0].id
    decide(ctx, ws, pid, "Ana Müller", Action.approve, 'ok — "quoted", ünïcödé, 100%')
    decide(ctx, ws, pid, "Ana Müller", Action.edit, "narrower", Edit(coverage="partial", rationale="only prod"))
    decide(ctx, ws, pid, "Bo", Action.reopen, "")
    with ctx.store.reads() as tx:
        row = review_sql.one_row(tx, ws, pid, decisions=True)
        assert hasattr(row, "decisions_json") == tx.pg
        brought, read = review_sql.history(tx, ws, pid, row), review_sql.history(tx, ws, pid)
    assert [d.action for d in read] == [Action.approve, Action.edit, Action.reopen]
    assert brought == read
    assert [d.at.utcoffset() for d in brought] == [d.at.utcoffset() for d in read]
