"""The current proposals, decisions and citations compared with what the audit chain says was decided.

The chain is replayed per proposal: the latest state an event recorded (`after`) and the people's decisions
in order. A decided proposal (approved, rejected, back to review) must hold the status, coverage and
citations its latest event recorded; an approved citation must still quote its document version verbatim; the
decisions table must list exactly the chain's decisions; a decided proposal the chain knows must still exist.
Each difference is one finding naming the proposal: someone edited the tables behind the chain's back.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from rag.models import Action, Status
from rag.store import AuditRow, DecisionRow, ProposalRow, VersionRow

DECIDED = {Status.approved.value, Status.rejected.value, Status.needs_review.value}
DECISION_ACTIONS = {f"proposal.{a.value}": a.value for a in Action}
COMPARED = ("status", "coverage")
MAX_FINDINGS = 50

Key = tuple[str, int]  # (workspace, proposal id)


def reconcile(s: Session) -> list[str]:
    """Differences between the store's rows and the audit chain (an empty list when they agree)."""
    states, decisions = _replay(s)
    findings = _proposal_findings(s, states) + _decision_findings(s, decisions)
    if len(findings) > MAX_FINDINGS:
        findings = findings[:MAX_FINDINGS] + [f"... and {len(findings) - MAX_FINDINGS} more differences"]
    return findings


def _replay(s: Session) -> tuple[dict[Key, dict], dict[Key, list[tuple]]]:
    states: dict[Key, dict] = {}
    decisions: dict[Key, list[tuple]] = defaultdict(list)
    rows = s.execute(select(AuditRow.workspace, AuditRow.action, AuditRow.target, AuditRow.actor, AuditRow.after)
                     .where(AuditRow.target.like("proposal:%")).order_by(AuditRow.seq))
    for workspace, action, target, actor, after in rows:
        try:
            key = (workspace, int(target.split(":", 1)[1]))
        except ValueError:
            continue
        if isinstance(after, dict) and "status" in after:
            states[key] = after
        if action in DECISION_ACTIONS:
            decisions[key].append((DECISION_ACTIONS[action], actor, (after or {}).get("status")))
    return states, decisions


def _proposal_findings(s: Session, states: dict[Key, dict]) -> list[str]:
    findings, seen, texts = [], set(), {}
    rows = s.scalars(select(ProposalRow).options(selectinload(ProposalRow.citations)).order_by(ProposalRow.id))
    for row in rows:
        key = (row.workspace, row.id)
        seen.add(key)
        state = states.get(key)
        name = f"proposal {row.id} ({row.workspace})"
        if state is None:
            if row.status in DECIDED:
                findings.append(f"{name} is {row.status} but the audit chain records no decision on it")
            continue
        if row.status not in DECIDED and state.get("status") not in DECIDED:
            continue  # undecided on both sides: mapping runs rescore these without an event
        findings += [f"{name}: {field} is {getattr(row, field)!r}, the audit chain recorded {state[field]!r}"
                     for field in COMPARED if field in state and getattr(row, field) != state[field]]
        if "citations" in state and _cited(row) != [(c["passage_id"], c["start"], c["end"])
                                                   for c in state["citations"]]:
            findings.append(f"{name}: its citations differ from those the audit chain recorded")
        if row.status == Status.approved.value:
            findings += _quote_findings(s, row, name, texts)
    findings += [f"proposal {pid} ({ws}) was {state['status']} in the audit chain but is gone from the store"
                 for (ws, pid), state in states.items() if (ws, pid) not in seen and state["status"] in DECIDED]
    return findings


def _cited(row: ProposalRow) -> list[tuple]:
    return [(c.passage_id, c.start, c.end) for c in row.citations]


def _quote_findings(s: Session, row: ProposalRow, name: str, texts: dict[str, str | None]) -> list[str]:
    found = []
    for c in row.citations:
        if c.document_sha256 not in texts:
            texts[c.document_sha256] = s.scalar(select(VersionRow.text).where(VersionRow.sha256 == c.document_sha256)
                                                .limit(1))
        text = texts[c.document_sha256]
        if text is None or text[c.start:c.end] != c.quote:
            found.append(f"{name}: the quote at {c.start}-{c.end} no longer matches document "
                         f"{c.document_sha256[:12]} (the citation row was changed after approval)")
    return found


def _decision_findings(s: Session, chain: dict[Key, list[tuple]]) -> list[str]:
    stored: dict[Key, list[tuple]] = defaultdict(list)
    for r in s.scalars(select(DecisionRow).order_by(DecisionRow.id)):
        stored[(r.workspace, r.proposal_id)].append((r.action, r.actor, (r.after or {}).get("status")))
    findings = []
    for key in sorted(set(stored) | set(chain)):
        mine, theirs = stored.get(key, []), chain.get(key, [])
        if mine == theirs:
            continue
        if len(mine) != len(theirs):
            findings.append(f"proposal {key[1]} ({key[0]}): the decisions table holds {len(mine)} decisions, the "
                            f"audit chain {len(theirs)}")
            continue
        n = next(i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b)
        findings.append(f"proposal {key[1]} ({key[0]}): decision {n + 1} reads {_said(mine[n])} in the decisions "
                        f"table but {_said(theirs[n])} in the audit chain")
    return findings


def _said(decision: tuple) -> str:
    action, actor, status = decision
    return f"{action} by {actor!r} ({status})"
