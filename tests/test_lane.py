"""The review's hot routes answered by `api.lane` answer exactly as the FastAPI routes do: the same status and
body for every refusal and every invalid request (those the lane leaves to FastAPI included), the same result
for a decision, and the same refusal counting; and the lane does answer the requests it is there for."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import api.lane
from api.app import create_app
from rag.auth import Role
from rag.store import DeniedRequestRow
from tests.test_api_seed import seed_tenant, seeded_context
from tests.test_web import browser, page_token

VOLATILE = {"updated_at", "at", "id"}


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    ctx = seeded_context(tmp_path_factory.mktemp("lane"), denied_per_minute=1_000_000)
    tenants = [seed_tenant(ctx, "alpha"), seed_tenant(ctx, "beta")]
    answered = []
    real = api.lane.ReviewLane._answer

    def counting(self, scope, call, body):
        answered.append(call)
        return real(self, scope, call, body)

    api.lane.ReviewLane._answer = counting
    try:
        with TestClient(create_app(ctx=ctx)) as lane, TestClient(create_app(ctx=ctx, review_lane=False)) as plain:
            yield ctx, tenants, lane, plain, answered
    finally:
        api.lane.ReviewLane._answer = real


def same(lane_answer, plain_answer, ignore: frozenset = frozenset()) -> None:
    assert lane_answer.status_code == plain_answer.status_code, (lane_answer.text, plain_answer.text)
    assert _stable(lane_answer.json(), ignore) == _stable(plain_answer.json(), ignore)
    assert lane_answer.headers.get("www-authenticate") == plain_answer.headers.get("www-authenticate")
    assert lane_answer.headers["content-type"] == plain_answer.headers["content-type"]


def _stable(value, ignore: frozenset = frozenset()):
    if isinstance(value, dict):
        return {k: _stable(v, ignore) for k, v in value.items() if k not in VOLATILE | ignore}
    if isinstance(value, list):
        return [_stable(v, ignore) for v in value]
    return value


def test_opening_a_proposal_answers_alike_and_goes_through_the_lane(both):
    _, (alpha, beta), lane, plain, answered = both
    base = f"/api/workspaces/alpha/proposals/{alpha.proposals['access']}"
    viewer = alpha.header(Role.viewer)
    before = len(answered)
    for query in ("", "?context=0", "?context=40", "?context=5000"):
        got, want = lane.get(base + query, headers=viewer), plain.get(base + query, headers=viewer)
        assert got.status_code == 200 and got.json()["decisions"] and got.json()["contexts"]
        same(got, want)
    assert len(answered) - before == 4  # the lane answered all four
    for query in ("?context=6000", "?context=-1", "?context=x", "?context=1&other=2"):  # FastAPI answers these
        same(lane.get(base + query, headers=viewer), plain.get(base + query, headers=viewer))
    assert len(answered) - before == 4


@pytest.mark.parametrize("case", ["no key", "bad key", "other tenant's key", "no such workspace",
                                  "no such proposal", "another tenant's proposal"])
def test_refusals_when_opening_answer_alike(both, case):
    _, (alpha, beta), lane, plain, _ = both
    path = f"/api/workspaces/alpha/proposals/{alpha.proposals['mfa']}"
    headers = alpha.header(Role.viewer)
    if case == "no key":
        headers = {}
    elif case == "bad key":
        headers = {"Authorization": "Bearer ctrlmap_notakey"}
    elif case == "other tenant's key":
        headers = beta.header(Role.admin)
    elif case == "no such workspace":
        path = path.replace("alpha", "nowhere")
        headers = {"Authorization": alpha.header(Role.viewer)["Authorization"]}
    elif case == "no such proposal":
        path = "/api/workspaces/alpha/proposals/999999999"
    else:
        path = f"/api/workspaces/alpha/proposals/{beta.proposals['mfa']}"
    got, want = lane.get(path, headers=headers), plain.get(path, headers=headers)
    assert got.status_code in (401, 403, 404)
    same(got, want)


def test_a_refused_open_is_counted_as_the_gate_counts_it(both):
    ctx, (alpha, _), lane, _, _ = both

    def refusals() -> int:
        with ctx.store.session() as s:
            return s.scalar(select(func.coalesce(func.sum(DeniedRequestRow.count), 0))
                            .where(DeniedRequestRow.outcome == "unauthenticated"))

    before = refusals()
    assert lane.get(f"/api/workspaces/alpha/proposals/{alpha.proposals['mfa']}").status_code == 401
    lane.app.state.denials.flush()
    assert refusals() == before + 1


@pytest.mark.parametrize("body", [None, {"comment": "x" * 4001}, {"comment": 5}, {"coverage": "most"},
                                  {"comment": "ok", "quotes": "not a list"}])
def test_bodies_the_schema_refuses_answer_alike(both, body):
    _, (alpha, _), lane, plain, _ = both
    action = "edit" if body and ("coverage" in body or "quotes" in body) else "approve"
    path = f"/api/workspaces/alpha/proposals/{alpha.proposals['spare']}/{action}"
    headers = alpha.header(Role.reviewer)
    kwargs = {"json": body} if body is not None else {"content": b"", "headers": {**headers,
                                                                                  "Content-Type": "application/json"}}
    got = lane.post(path, **({"headers": headers} | kwargs))
    want = plain.post(path, **({"headers": headers} | kwargs))
    assert got.status_code == 422
    same(got, want)


@pytest.mark.parametrize("who", ["viewer", "other tenant", "no key", "bad key"])
def test_a_decision_without_the_role_answers_alike(both, who):
    _, (alpha, beta), lane, plain, _ = both
    path = f"/api/workspaces/alpha/proposals/{alpha.proposals['spare']}/approve"
    headers = {"viewer": alpha.header(Role.viewer), "other tenant": beta.header(Role.reviewer), "no key": {},
               "bad key": {"Authorization": "Bearer ctrlmap_notakey"}}[who]
    got, want = lane.post(path, json={"comment": "no"}, headers=headers), plain.post(path, json={"comment": "no"},
                                                                                     headers=headers)
    assert got.status_code in (401, 403)
    same(got, want)


def test_only_a_small_decision_body_is_read_before_the_key_is_checked(both):
    """The lane identifies a decision's caller itself only when the declared body is a decision's size; a
    larger one is refused by the gate before it is read, and a reviewer's large edit still goes through."""
    _, (alpha, _), lane, plain, answered = both
    path = f"/api/workspaces/alpha/proposals/{alpha.proposals['spare']}/edit"
    big = {"comment": "long", "rationale": "r" * 7000, "quotes": ["a quote no policy holds " * 500]}
    assert len(json.dumps(big)) > api.lane.SMALL_BODY
    refused = lane.post(path, json=big)
    assert refused.status_code == 401 and refused.headers.get("connection") == "close"  # the gate's own answer
    before = len(answered)
    done = lane.post(path, json={"comment": "long", "rationale": "r" * 7000}, headers=alpha.header(Role.reviewer))
    assert done.status_code == 200 and len(answered) == before + 1
    quoted = lane.post(path, json=big, headers=alpha.header(Role.reviewer))  # identified by the gate, then the lane
    assert quoted.status_code >= 400 and "quote" in quoted.text
    same(quoted, plain.post(path, json=big, headers=alpha.header(Role.reviewer)))
    assert len(answered) == before + 2


def test_decisions_answer_alike_and_go_through_the_lane(both):
    _, (alpha, _), lane, plain, answered = both
    base = f"/api/workspaces/alpha/proposals/{alpha.proposals['triage']}"
    reviewer = alpha.header(Role.reviewer)
    before = len(answered)
    for action, body in (("approve", {"comment": "meets it"}), ("reject", {"comment": "not enough"}),
                         ("edit", {"comment": "narrower", "coverage": "partial", "rationale": "Only triage."})):
        got = lane.post(f"{base}/{action}", json=body, headers=reviewer)
        assert got.status_code == 200 and not got.json()["unchanged"], got.text
        reopened = plain.post(f"{base}/reopen", json={"comment": "again"}, headers=reviewer)
        assert reopened.status_code == 200
        want = plain.post(f"{base}/{action}", json=body, headers=reviewer)
        plain.post(f"{base}/reopen", json={"comment": "again"}, headers=reviewer)
        # the first approval suggested the evidence for crosswalk-linked clauses; the second finds them there
        same(got, want, frozenset({"propagated"}) if action == "approve" else frozenset())
        assert action != "approve" or (got.json()["propagated"] and not want.json()["propagated"])
    assert [c.action for c in answered[before:]] == ["approve", "reject", "edit"]
    repeat = [client.post(f"{base}/reject", json={}, headers=reviewer) for client in (lane, plain)]
    assert repeat[0].json()["unchanged"] is False and repeat[1].json()["unchanged"] is True  # already rejected
    history = lane.get(base, headers=reviewer).json()["decisions"]
    assert [(d["action"], d["comment"]) for d in history][-2:] == [("edit", "narrower"), ("reject", "")]


def test_a_browser_decision_needs_the_page_s_token_through_the_lane_too(both):
    _, (alpha, _), lane, plain, answered = both
    path = f"/api/workspaces/alpha/proposals/{alpha.proposals['lessons']}/reject"
    browsers = [browser(client, alpha.keys[Role.reviewer]) for client in (lane, plain)]
    before = len(answered)
    refused = [b.post(path, json={"comment": "from the page"}) for b in browsers]  # no CSRF token
    assert refused[0].status_code == 403
    same(*refused)
    cross = [b.post(path, json={}, headers={"X-CSRF-Token": page_token(b, "/w/alpha/review"),
                                             "Origin": "https://elsewhere.example"}) for b in browsers]
    assert cross[0].status_code == 403
    same(*cross)
    done = browsers[0].post(path, json={"comment": "from the page"},
                            headers={"X-CSRF-Token": page_token(browsers[0], "/w/alpha/review")})
    assert done.status_code == 200 and done.json()["proposal"]["status"] == "rejected"
    assert len(answered) - before == 3  # the lane answered each (and refused two)


def test_version_texts_kept_for_opening_stay_within_their_budget():
    from rag.review_sql import _RecentTexts

    texts = _RecentTexts(budget=100)
    for i in range(10):
        texts.put(("acme", f"sha{i}"), "x" * 20)
    kept = [i for i in range(10) if texts.get(("acme", f"sha{i}")) is not None]
    assert kept == [5, 6, 7, 8, 9] and texts.size == 100  # the least recently read go first
    texts.get(("acme", "sha5"))
    texts.put(("acme", "new"), "y" * 20)
    assert texts.get(("acme", "sha5")) is not None and texts.get(("acme", "sha6")) is None
    texts.put(("acme", "huge"), "z" * 26)  # over a quarter of the budget: read again each time, never kept
    assert texts.get(("acme", "huge")) is None and texts.get(("beta", "sha9")) is None
