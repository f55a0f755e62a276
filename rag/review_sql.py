"""The review's hot path in hand-written SQL (`rag.rawsql`): reading proposals as a reviewer opens them, and
recording a person's decision on one.

Every decision, from the web page, the API, the command line or a bulk action, goes through `record`, in the
caller's transaction: read the proposal (locked on PostgreSQL, so two people deciding it at once are recorded
one after the other, the second seeing the first's result), change it, record the decision, suggest the
approved evidence for crosswalk-linked clauses, and append the audit events last (appending locks the chain
head until commit, so the lock is held for a few statements). Under load, each statement sent through
SQLAlchemy cost more CPU than the database spent running it; rag/review.py keeps the rest of the review.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

from rag import audit
from rag.drift import state
from rag.errors import Conflict, InvalidInput, NotFound
from rag.models import Action, Coverage, Decision, Method, Proposal, Status, as_utc, utcnow
from rag.rawsql import Tx, inserts
from rag.store import DecisionRow, check_lengths, proposal_of

_CITATION_COLUMNS = ('c.id AS c_id, c.passage_id AS c_passage_id, c.document_sha256 AS c_document_sha256, '
                     'c.start AS c_start, c."end" AS c_end, c.quote AS c_quote, c.flags AS c_flags, '
                     "s.heading_path AS c_heading_path, s.page AS c_page, s.flags AS c_passage_flags, "
                     "s.id AS c_passage_found")
_FROM_PROPOSALS = ("FROM proposals p JOIN documents d ON d.id = p.document_id "
                   "JOIN document_versions v ON v.id = p.version_id "
                   "LEFT JOIN citations c ON c.proposal_id = p.id LEFT JOIN passages s ON s.id = c.passage_id")
_PROPOSALS = f"SELECT p.*, d.name AS document_name, v.sha256 AS document_sha256, {_CITATION_COLUMNS} {_FROM_PROPOSALS}"
_DECISION_COLUMNS = ("id", "proposal_id", "actor", "action", "comment", "before", "after", "at")
_HISTORY = ("SELECT " + ", ".join(f'"{c}"' for c in _DECISION_COLUMNS) + " FROM decisions "
            "WHERE workspace = :workspace AND proposal_id = :proposal_id ORDER BY id")
# PostgreSQL: the proposal's decisions as one JSON column of the same query (one statement less per opening)
_WITH_DECISIONS = (f"SELECT p.*, d.name AS document_name, v.sha256 AS document_sha256, {_CITATION_COLUMNS}, "
                   "(SELECT json_agg(json_build_array("
                   + ", ".join(f'h."{c}"' for c in _DECISION_COLUMNS) + ") ORDER BY h.id) FROM decisions h "
                   f"WHERE h.workspace = p.workspace AND h.proposal_id = p.id) AS decisions_json {_FROM_PROPOSALS}")
_CITATIONS = (f"SELECT c.proposal_id, {_CITATION_COLUMNS} "
              "FROM citations c LEFT JOIN passages s ON s.id = c.passage_id")
_CITED = ("passage_id", "document_sha256", "start", "end", "quote", "flags", "heading_path", "page",
          "passage_flags", "passage_found")
_INSERT_DECISION = ('INSERT INTO decisions (workspace, proposal_id, actor, action, comment, "before", "after", at) '
                    "VALUES (:workspace, :proposal_id, :actor, :action, :comment, :before, :after, :at)")
_VERSION_TEXT = ("SELECT v.text, v.hidden FROM document_versions v JOIN documents d ON d.id = v.document_id "
                 "WHERE v.sha256 = :sha256 AND d.workspace = :workspace LIMIT 1")


# --- reading ------------------------------------------------------------------------------------------


def _in(values, prefix: str = "v") -> tuple[str, dict]:
    """`(:v0, :v1, ...)` and its parameters."""
    params = {f"{prefix}{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(f":{k}" for k in params) + ")", params


def rows_where(tx: Tx, where: str, params: dict, lock: bool = False, order: str = "p.id",
               decisions: bool = False) -> list[SimpleNamespace]:
    """Proposal rows (with their document's name, version's sha256 and citations, in one query) matching
    `where`, in `order`. `lock`: locked until the transaction ends (PostgreSQL; SQLite writers are exclusive).
    `decisions`: on PostgreSQL each row also brings its decisions (`decisions_json`, read by `history`)."""
    found: dict[int, SimpleNamespace] = {}
    select_ = _WITH_DECISIONS if decisions and tx.pg else _PROPOSALS
    for r in tx.rows(f"{select_} WHERE {where} ORDER BY {order}, c.id" + (" FOR UPDATE OF p" if lock and tx.pg
                                                                          else ""), params):
        row = found.get(r["id"])
        if row is None:
            plain = {k: v for k, v in r.items() if not k.startswith("c_")}
            plain["usage"], plain["drift"] = tx.json_out(plain["usage"]), tx.json_out(plain["drift"])
            plain["created_at"], plain["updated_at"] = tx.ts_out(plain["created_at"]), tx.ts_out(plain["updated_at"])
            row = found[r["id"]] = SimpleNamespace(**plain, citations=[])
        if r["c_id"] is not None:
            row.citations.append(_cited(tx, r))
    return list(found.values())


def _cited(tx: Tx, r: dict) -> SimpleNamespace:
    c = SimpleNamespace(**{k: r[f"c_{k}"] for k in _CITED})
    c.flags, c.heading_path, c.passage_flags = (tx.json_out(c.flags), tx.json_out(c.heading_path),
                                                tx.json_out(c.passage_flags))
    return c


def citations(tx: Tx, ids: list[int]) -> dict[int, list[SimpleNamespace]]:
    """The citation rows (with their passage's heading, page and flags) of these proposals, in one query."""
    if not ids:
        return {}
    where, params = _in(ids)
    out: dict[int, list] = {}
    for r in tx.rows(f"{_CITATIONS} WHERE c.proposal_id IN {where} ORDER BY c.id", params):
        out.setdefault(r["proposal_id"], []).append(_cited(tx, r))
    return out


def proposals(tx: Tx, ids: list[int], workspace: str | None = None) -> list[Proposal]:
    """Proposals by id, in this order (with `workspace`, only its own)."""
    if not ids:
        return []
    where, params = _in(ids)
    if workspace is not None:
        where, params = f"{where} AND p.workspace = :workspace", {**params, "workspace": workspace}
    by_id = {r.id: proposal_of(r, r.citations) for r in rows_where(tx, f"p.id IN {where}", params)}
    return [by_id[i] for i in ids if i in by_id]


def one_row(tx: Tx, workspace: str, proposal_id: int, lock: bool = False, decisions: bool = False
            ) -> SimpleNamespace:
    found = rows_where(tx, "p.id = :id AND p.workspace = :workspace", {"id": proposal_id, "workspace": workspace},
                       lock, decisions=decisions)
    if not found:
        raise NotFound(f"no proposal {proposal_id} in workspace {workspace}", target=f"proposal:{proposal_id}")
    return found[0]


def derived(tx: Tx, workspace: str, proposal_id: int) -> list[Proposal]:
    """Proposals suggested through crosswalks from this one's approval."""
    return [proposal_of(r, r.citations) for r in rows_where(
        tx, "p.workspace = :workspace AND p.origin_proposal_id = :id",
        {"workspace": workspace, "id": proposal_id})]


def history(tx: Tx, workspace: str, proposal_id: int, row: SimpleNamespace | None = None) -> list[Decision]:
    """The decisions people made on a proposal, oldest first: those its `row` brought along (`one_row(...,
    decisions=True)` on PostgreSQL), or else read now."""
    if row is not None and hasattr(row, "decisions_json"):
        rows = [dict(zip(_DECISION_COLUMNS, values)) for values in tx.json_out(row.decisions_json) or []]
    else:
        rows = tx.rows(_HISTORY, {"workspace": workspace, "proposal_id": proposal_id})
    return [Decision(id=r["id"], proposal_id=r["proposal_id"], actor=r["actor"], action=Action(r["action"]),
                     comment=r["comment"], before=tx.json_out(r["before"]), after=tx.json_out(r["after"]),
                     at=tx.ts_out(r["at"])) for r in rows]


def version_text(tx: Tx, workspace: str, sha256: str) -> str:
    """A version's text of the workspace, hidden text masked (kept in `_TEXTS`: a stored version never
    changes, its sha256 being its content, and reviewers open proposal after proposal citing the same few)."""
    from rag.ingest.document import mask_hidden

    text = _TEXTS.get((workspace, sha256))
    if text is None:
        row = tx.first(_VERSION_TEXT, {"sha256": sha256, "workspace": workspace})
        if row is None:
            raise NotFound(f"no document version {sha256[:12]} in workspace {workspace}")
        text = mask_hidden(row["text"], tx.json_out(row["hidden"]) or [])
        _TEXTS.put((workspace, sha256), text)
    return text


class _RecentTexts:
    """The most recently read texts, within a budget of characters (thread-safe)."""

    def __init__(self, budget: int) -> None:
        self.budget, self.size = budget, 0
        self._texts: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> str | None:
        with self._lock:
            text = self._texts.get(key)
            if text is not None:
                self._texts.move_to_end(key)
            return text

    def put(self, key: tuple[str, str], text: str) -> None:
        if len(text) > self.budget // 4:
            return
        with self._lock:
            if key in self._texts:
                return
            self._texts[key] = text
            self.size += len(text)
            while self.size > self.budget:
                self.size -= len(self._texts.popitem(last=False)[1])


_TEXTS = _RecentTexts(32 * 1024 * 1024)


# --- deciding -----------------------------------------------------------------------------------------


@dataclass
class Edit:
    coverage: Coverage | None = None
    rationale: str | None = None
    quotes: list[str] | None = None  # replace the citations with these quotes (each must verify)


SAME = {Action.approve: Status.approved.value, Action.reject: Status.rejected.value,
        Action.reopen: Status.proposed.value}  # deciding again what is already so records nothing


@dataclass
class Outcome:
    proposal: Proposal
    changed: bool  # False: it already was so (no event written) or it changed meanwhile (see `skipped`)
    skipped: str | None = None  # "already approved", "changed meanwhile", ...
    propagated: list[Proposal] = field(default_factory=list)  # crosswalk suggestions this decision made
    events: list[dict] = field(default_factory=list)  # its audit events (`changes_of`), to append


def record(ctx, tx: Tx, workspace: str, proposal_id: int, actor: str, action: Action, comment: str, edit: Edit,
           unchanged_since=None, replace_quotes: Callable[[], None] | None = None) -> Outcome:
    """A person's decision, in the caller's transaction, with its audit events. `replace_quotes`: replaces the
    proposal's citations (an edit of its quotes; done through the ORM, which then flushes)."""
    outcome = changes_of(ctx, tx, workspace, proposal_id, actor, action, comment, edit, unchanged_since,
                         replace_quotes)
    audit.append_many(tx, outcome.events)
    return outcome


def changes_of(ctx, tx: Tx, workspace: str, proposal_id: int, actor: str, action: Action, comment: str,
               edit: Edit, unchanged_since=None, replace_quotes: Callable[[], None] | None = None) -> Outcome:
    """`record` without appending its audit events, which it returns (`Outcome.events`) for the caller to
    append, with other decisions' (rag.group_commit). Every refusal comes before the first write."""
    row = one_row(tx, workspace, proposal_id, lock=True)
    skipped = _skip_reason(row, action, unchanged_since)
    if skipped:
        return Outcome(proposal_of(row, row.citations), False, skipped)
    before = state(row)
    if replace_quotes is not None:
        replace_quotes()
        row.citations = citations(tx, [row.id]).get(row.id, [])
    changes = _changes(row, action, edit) | {"updated_at": utcnow()}
    vars(row).update(changes)
    after = state(row)
    decision = dict(workspace=workspace, proposal_id=row.id, actor=actor, action=action.value, comment=comment,
                    before=before, after=after, at=utcnow())
    check_lengths(DecisionRow.__table__, decision.get)
    writes = [(f"UPDATE proposals SET {', '.join(f'{k} = :{k}' for k in changes)} WHERE id = :id",
               {**changes, "updated_at": tx.ts_in(changes["updated_at"]), "id": row.id}),
              (_INSERT_DECISION, {**decision, "before": tx.json_in(before), "after": tx.json_in(after),
                                  "at": tx.ts_in(decision["at"])})]
    related = ctx.catalog.related(row.framework, row.clause_id) if action == Action.approve else []
    if related:  # what the crosswalk suggestions need is read with the writes (it does not depend on them)
        taken, scored = _linked(tx.rows_together(writes, *_linked_query(workspace, row.document_id, related)),
                                related)
    else:
        tx.run_together(writes)
    result = proposal_of(row, row.citations)
    made = suggest(ctx, tx, row, related, taken, scored) if related else []
    events = [dict(workspace=workspace, actor=actor, action=f"proposal.{action.value}", target=f"proposal:{row.id}",
                   before=before, after=after, comment=comment or None, clause=f"{row.framework}:{row.clause_id}",
                   document_sha256=result.document_sha256, model=row.model, prompt_version=row.prompt_version)] + [
        dict(workspace=workspace, actor=actor, action="proposal.propagate", target=f"proposal:{new.id}",
             after={"status": new.status.value, "method": new.method.value}, origin=f"proposal:{row.id}",
             clause=f"{new.framework}:{new.clause_id}") for new in made]
    return Outcome(result, True, propagated=made, events=events)


def _changes(row: SimpleNamespace, action: Action, edit: Edit) -> dict:
    """The column values a decision sets (an edit's new quotes are already in place)."""
    if action == Action.edit:
        changes = {"coverage": Coverage(edit.coverage).value} if edit.coverage is not None else {}
        return changes | ({"rationale": edit.rationale} if edit.rationale is not None else {})
    if action == Action.approve and not row.citations:
        raise Conflict("a proposal without a verified citation cannot be approved", target=f"proposal:{row.id}")
    return {"status": SAME[action]}


def _skip_reason(row: SimpleNamespace, action: Action, unchanged_since) -> str | None:
    if SAME.get(action) == row.status:
        return "already open" if action == Action.reopen else f"already {row.status}"
    if unchanged_since is not None and as_utc(row.updated_at) > as_utc(unchanged_since):
        return "changed meanwhile"
    return None


def check_actor(actor: str) -> None:
    if not actor:
        raise InvalidInput("a decision needs the name of the person making it")


# --- crosswalk suggestions ---------------------------------------------------------------------------------


def suggest(ctx, tx: Tx, row: SimpleNamespace, related: list, taken: set, scored: dict) -> list[Proposal]:
    """Map once, satisfy many: suggest the approved evidence for the crosswalk-linked clauses `related`
    (still proposals, awaiting a person), given what `_linked` found of them. Returns the new proposals
    (inserted with the approved one's citations); the caller audits them."""
    fresh = [c for c in related if (c.framework, c.id) not in taken]
    if not fresh:
        return []
    values = [_suggestion(ctx, row, clause, own_confidence(scored.get((clause.framework, clause.id), []), clause,
                                                           row.document_id)) for clause in fresh]
    made = {(r["framework"], r["clause_id"]): r["id"]
            for r in _insert_cited(tx, [_stored(tx, v) for v in values], row.citations)}
    ids = [made[(v["framework"], v["clause_id"])] for v in values]
    return [proposal_of(SimpleNamespace(**v, id=i, prompt_version=None, run_id=None,
                                        document_name=row.document_name, document_sha256=row.document_sha256),
                        row.citations) for i, v in zip(ids, values)]


_CITED_COLUMNS = {"passage_id": "VARCHAR", "document_sha256": "VARCHAR", "start": "INTEGER", "end": "INTEGER",
                  "quote": "TEXT", "flags": "JSON"}  # a citation's own columns, and their types


def _cited_values(tx: Tx, c) -> dict:
    return {"passage_id": c.passage_id, "document_sha256": c.document_sha256, "start": c.start, "end": c.end,
            "quote": c.quote, "flags": tx.json_in(c.flags)}


def _insert_cited(tx: Tx, proposals: list[dict], cited: list) -> list[dict]:
    """New proposals, each with a copy of the `cited` citations (in their order); the new rows' id,
    framework and clause_id. One statement on PostgreSQL (the citations are inserted from the proposals'
    RETURNING), two on SQLite."""
    statements = inserts("proposals", proposals)
    if not tx.pg or len(statements) != 1 or not cited:
        made = tx.insert("proposals", proposals, returning=("id", "framework", "clause_id"))
        tx.insert("citations", [dict(proposal_id=r["id"], **_cited_values(tx, c))
                                for r in sorted(made, key=lambda r: r["id"]) for c in cited])
        return made
    sql, params = statements[0]
    for j, c in enumerate(cited):
        params.update({f"q{j}_{k}": v for k, v in _cited_values(tx, c).items()})
    names = ", ".join(f'"{c}"' for c in _CITED_COLUMNS)
    quotes = ", ".join("(" + ", ".join([str(j), *(f"CAST(:q{j}_{c} AS {t})" for c, t in _CITED_COLUMNS.items())])
                       + ")" for j in range(len(cited)))
    picked = ", ".join(f'q."{c}"' for c in _CITED_COLUMNS)
    return tx.rows(f"WITH made AS ({sql} RETURNING id, framework, clause_id), cited AS (INSERT INTO citations "
                   f"(proposal_id, {names}) SELECT made.id, {picked} FROM made CROSS JOIN (VALUES {quotes}) "
                   f"AS q(n, {names}) ORDER BY made.id, q.n) SELECT id, framework, clause_id FROM made", params)


def _keys_in(clauses) -> tuple[str, dict]:
    """`framework IN (...) AND clause_id IN (...)` covering these clauses (a superset of their pairs, which the
    callers intersect), so the (workspace, framework, clause_id, ...) indexes serve it."""
    frameworks, fp = _in(sorted({c.framework for c in clauses}), "f")
    ids, ip = _in(sorted({c.id for c in clauses}), "c")
    return f"framework IN {frameworks} AND clause_id IN {ids}", {**fp, **ip}


def _stored(tx: Tx, values: dict) -> dict:
    return {**values, "usage": tx.json_in(values["usage"]), "drift": tx.json_in(values["drift"]),
            "created_at": tx.ts_in(values["created_at"]), "updated_at": tx.ts_in(values["updated_at"])}


def _linked_query(workspace: str, document_id: int, clauses) -> tuple[str, dict]:
    """The query `_linked` reads: for these clauses, which already hold a proposal of this document, and the
    latest run's evidence (document, rank, confidence) for each."""
    where, params = _keys_in(clauses)
    return (f"SELECT 'taken' AS kind, framework, clause_id, NULL AS document_id, NULL AS \"rank\", "
            f"NULL AS confidence FROM proposals WHERE workspace = :workspace AND {where} "
            f"AND document_id = :document_id UNION ALL "
            f'SELECT \'scored\', framework, clause_id, document_id, "rank", confidence FROM evidence '
            f"WHERE workspace = :workspace AND {where}",
            {**params, "workspace": workspace, "document_id": document_id})


def _linked(found: list[dict], clauses) -> tuple[set, dict[tuple[str, str], list]]:
    """`_linked_query`'s rows as (the clauses already taken, the scored evidence by clause)."""
    keys = {(c.framework, c.id) for c in clauses}
    taken, scored = set(), {}
    for r in found:
        key = (r["framework"], r["clause_id"])
        if key not in keys:
            continue
        if r["kind"] == "taken":
            taken.add(key)
        else:
            scored.setdefault(key, []).append(SimpleNamespace(document_id=r["document_id"], rank=r["rank"],
                                                              confidence=r["confidence"]))
    return taken, scored


def own_confidence(stored: list, clause, document_id: int) -> tuple[float | None, str]:
    """What the pipeline itself gave this document for this clause in the latest run (`stored`: that run's
    evidence rows for the clause), and how to say it."""
    if not stored:
        return None, f"No mapping run has scored {clause.id} yet."
    mine = next((r for r in stored if r.document_id == document_id), None)
    if mine is not None:
        return mine.confidence, (f"ctrlmap's own confidence that this document meets {clause.id}: "
                                 f"{mine.confidence:.2f} (its rank {mine.rank} for the clause).")
    floor = min(r.confidence for r in stored)
    return floor, (f"ctrlmap did not rank this document among the {len(stored)} best for {clause.id} "
                   f"(confidence below {floor:.2f}).")


def _suggestion(ctx, row: SimpleNamespace, clause, own: tuple[float | None, str]) -> dict:
    """The column values of a crosswalk suggestion of `row`'s evidence for `clause`."""
    confidence = row.confidence * 0.9 if own[0] is None else min(row.confidence * 0.9, own[0])
    now = utcnow()
    return dict(workspace=row.workspace, framework=clause.framework, clause_id=clause.id,
                document_id=row.document_id, version_id=row.version_id, score=row.score,
                confidence=round(confidence, 4), coverage=Coverage.partial.value,
                rationale=(f"Suggested through a crosswalk: the same evidence was approved for "
                           f"{row.framework} {row.clause_id}. {own[1]} "
                           f"A reviewer must confirm it meets {clause.id}."),
                method=Method.crosswalk.value, status=Status.proposed.value, model=None,
                corpus_version=ctx.catalog.version, origin_proposal_id=row.id, usage={}, drift={},
                created_at=now, updated_at=now)
