"""CLI verbs for people: review proposals (a page at a time, one by one, in bulk or a clause at a time; clauses
not applicable), list documents, read and verify the audit trail."""

from __future__ import annotations

from typing import Optional

import typer
from rich.markup import escape

from api.console import actor, console, context, emit_json, errors, handle_errors, table

review_app = typer.Typer(help="Approve, reject or edit proposals.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
documents_app = typer.Typer(help="Stored documents and versions.", no_args_is_help=True)
na_app = typer.Typer(help="Clauses that do not apply to the organization (with a reason, audited).",
                     no_args_is_help=True)
review_app.add_typer(na_app, name="na")


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")
    app.add_typer(audit_app, name="audit")
    app.add_typer(documents_app, name="documents")


class Filters:
    """The queue filters, the same options on `review list` and `review bulk`."""

    framework = typer.Option(None, "--framework", "-f", help="Key or alias: soc2, iso27001, iso42001, ai-rmf.")
    status = typer.Option("queue", help="queue (proposed and needs-review), proposed, needs-review, approved, "
                                        "rejected or all.")
    document = typer.Option(None, help="Document name (as listed by `documents list`).")
    clause = typer.Option(None, help="Clause id, e.g. CC6.1.")
    area = typer.Option(None, help="Control area, e.g. access-management.")
    method = typer.Option(None, help="offline, llm, crosswalk or manual.")
    min_confidence = typer.Option(None)
    max_confidence = typer.Option(None)
    search = typer.Option(None, "--search", "-q", help="Text in the clause id or title, the quote or the document name.")


def _filter(ctx, framework, status, document, clause, area, method, min_confidence, max_confidence, search):
    from rag.errors import NotFound
    from rag.queue import Filter
    from rag.corpus import document_ids

    doc_id = None
    if document:
        doc_id = document_ids(ctx, ctx.workspace()).get(document)
        if doc_id is None:
            raise NotFound(f"no document {document!r} in workspace {ctx.workspace()} (see `ctrlmap documents list`)")
    return Filter(framework=ctx.catalog.key(framework) if framework else None,
                  status=None if status == "all" else status, document_id=doc_id, clause_id=clause, area=area,
                  method=method, min_confidence=min_confidence, max_confidence=max_confidence, search=search)


@review_app.command("list")
@handle_errors
def review_list(framework: Optional[str] = Filters.framework, status: str = Filters.status,
                document: Optional[str] = Filters.document, clause: Optional[str] = Filters.clause,
                area: Optional[str] = Filters.area, method: Optional[str] = Filters.method,
                min_confidence: Optional[float] = Filters.min_confidence,
                max_confidence: Optional[float] = Filters.max_confidence, search: Optional[str] = Filters.search,
                sort: str = typer.Option("clause", help="clause (natural order), confidence, document or status; "
                                                        "a leading - reverses it."),
                limit: int = typer.Option(50), offset: int = typer.Option(0),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Proposals awaiting a decision (or any status), a page at a time, with how many match in all."""
    from rag.export.tables import proposal_row
    from rag.queue import page

    ctx = context()
    where = _filter(ctx, framework, status, document, clause, area, method, min_confidence, max_confidence, search)
    found = page(ctx, ctx.workspace(), where, sort, limit, offset)
    hint = _paging_hint(found)
    if as_json:
        emit_json([proposal_row(p) for p in found.items])
        errors.print(hint)
        return
    rows = [{"id": p.id, "framework": p.framework, "clause": p.clause_id, "document": p.document_name,
             "conf": p.confidence, "coverage": p.coverage.value, "method": p.method.value, "status": p.status.value,
             "quote": _preview(p)} for p in found.items]
    console.print(table(f"{found.total} proposal(s) match", rows))
    console.print(hint)


def _preview(p, width: int = 70) -> str:
    """The first quote on one line, cut at `width` characters (`review show` prints it verbatim)."""
    text = " ".join(p.citations[0].quote.split()) if p.citations else ""
    return text if len(text) <= width else text[:width].rstrip() + "…"


def _paging_hint(found) -> str:
    if not found.total:
        return "nothing matches"
    shown = f"showing {found.offset + 1}-{found.offset + len(found.items)} of {found.total}"
    if found.next_offset is None:
        return shown
    return f"{shown}; next page: add --offset {found.next_offset} (or --limit {found.total} for all)"


@review_app.command("show")
@handle_errors
def review_show(proposal_id: int, as_json: bool = typer.Option(False, "--json")) -> None:
    """One proposal: its clause, the cited quotes, the rationale and every decision made on it."""
    from rag.export.tables import proposal_row
    from rag.review import get_proposal, history

    ctx = context()
    p = get_proposal(ctx, ctx.workspace(), proposal_id)
    decisions = history(ctx, ctx.workspace(), proposal_id)
    if as_json:
        emit_json({**proposal_row(p), "decisions": [d.model_dump(mode="json") for d in decisions]})
        return
    clause = ctx.catalog.find(p.framework, p.clause_id)
    console.print(f"[bold]proposal {p.id}[/]  {p.framework} {p.clause_id} {escape(clause.title) if clause else ''}")
    console.print(f"  document {escape(p.document_name)} · status [bold]{p.status.value}[/] · {p.coverage.value} · "
                  f"confidence {p.confidence:.2f} · {p.method.value}")
    for c in p.citations:
        where = " > ".join(c.heading_path[1:] or c.heading_path)
        console.print(f"  [dim]{escape(where)} ({c.start}-{c.end})[/]\n    “{escape(c.quote)}”", highlight=False)
    console.print(f"  why: {escape(p.rationale)}", highlight=False)
    for d in decisions:
        console.print(f"  {d.at:%Y-%m-%d %H:%M} {d.action.value} by {escape(d.actor)}"
                      + (f": {escape(d.comment)}" if d.comment else ""), highlight=False)
    if not decisions:
        console.print("  no decision yet")


def _decide(proposal_id: int, action: str, comment: str, who: Optional[str], **edit) -> None:
    from rag import workflows
    from rag.export.tables import proposal_row
    from rag.models import Action
    from rag.review import Edit

    ctx = context()
    decided = workflows.decide(ctx, ctx.workspace(), proposal_id, actor(who), Action(action), comment,
                               Edit(**edit) if edit else None)
    result, row = decided.proposal, proposal_row(decided.proposal)
    which = f"proposal {result.id} ({result.framework} {result.clause_id} / {escape(result.document_name)})"
    if decided.skipped:
        console.print(f"{which} is {decided.skipped}: nothing recorded")
        return
    console.print(f"{which} is now [bold]{row['status']}[/] ({row['coverage']}); recorded in the audit trail")
    if decided.propagated:
        made = ", ".join(f"{p.framework} {p.clause_id}" for p in decided.propagated)
        console.print(f"suggested through crosswalks, awaiting review: {made} (ids "
                      f"{', '.join(str(p.id) for p in decided.propagated)})", highlight=False)


@review_app.command("approve")
@handle_errors
def review_approve(proposal_id: int, comment: str = typer.Option("", "--comment", "-m"),
                   who: Optional[str] = typer.Option(None, "--as", help="Reviewer name [default: $CTRLMAP_ACTOR or user].")) -> None:
    """Approve a proposal (crosswalk-linked clauses get it as a suggestion)."""
    _decide(proposal_id, "approve", comment, who)


@review_app.command("reject")
@handle_errors
def review_reject(proposal_id: int, comment: str = typer.Option("", "--comment", "-m"),
                  who: Optional[str] = typer.Option(None, "--as")) -> None:
    """Reject a proposal."""
    _decide(proposal_id, "reject", comment, who)


@review_app.command("edit")
@handle_errors
def review_edit(proposal_id: int, comment: str = typer.Option("", "--comment", "-m"),
                coverage: Optional[str] = typer.Option(None, help="full or partial"),
                rationale: Optional[str] = typer.Option(None),
                quote: list[str] = typer.Option([], help="Replace citations by these verbatim quotes (repeatable)."),
                who: Optional[str] = typer.Option(None, "--as")) -> None:
    """Edit a proposal's coverage, rationale or citations (quotes must occur verbatim)."""
    _decide(proposal_id, "edit", comment, who, coverage=coverage, rationale=rationale, quotes=quote or None)


@review_app.command("reopen")
@handle_errors
def review_reopen(proposal_id: int, comment: str = typer.Option("", "--comment", "-m"),
                  who: Optional[str] = typer.Option(None, "--as")) -> None:
    """Send a decided proposal back to the queue."""
    _decide(proposal_id, "reopen", comment, who)


@review_app.command("bulk")
@handle_errors
def review_bulk(action: str = typer.Argument(..., help="approve, reject or reopen"),
                ids: Optional[str] = typer.Option(None, help="Comma-separated proposal ids (instead of a filter)."),
                framework: Optional[str] = Filters.framework, status: str = Filters.status,
                document: Optional[str] = Filters.document, clause: Optional[str] = Filters.clause,
                area: Optional[str] = Filters.area, method: Optional[str] = Filters.method,
                min_confidence: Optional[float] = Filters.min_confidence,
                max_confidence: Optional[float] = Filters.max_confidence, search: Optional[str] = Filters.search,
                comment: str = typer.Option("", "--comment", "-m"), who: Optional[str] = typer.Option(None, "--as"),
                yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """One decision on many proposals (chosen by id or by filter); each is its own audited decision."""
    from rag.errors import InvalidInput
    from rag.models import Action
    from rag.queue import decide_many, matching

    if action not in ("approve", "reject", "reopen"):
        raise InvalidInput(f"unknown action {action!r}; use approve, reject or reopen")
    ctx = context()
    chosen = [int(i) for i in ids.replace(" ", "").split(",") if i] if ids else None
    where = None if chosen is not None else _filter(ctx, framework, status, document, clause, area, method,
                                                    min_confidence, max_confidence, search)
    count = len(chosen) if chosen is not None else len(matching(ctx, ctx.workspace(), where))
    if not yes and not as_json and not typer.confirm(f"{action} {count} proposal(s)?"):
        raise typer.Exit(1)
    result = decide_many(ctx, ctx.workspace(), Action(action), actor(who), comment, ids=chosen, where=where)
    summary = result.as_dict()
    if as_json:
        emit_json(summary)
        return
    reasons = ", ".join(f"{n} {why}" for why, n in summary["skipped_reasons"].items())
    console.print(f"{summary['decided']} decided ({action}), {summary['skipped']} skipped"
                  + (f" ({reasons})" if reasons else "") + "; each decision is in the audit trail")


@review_app.command("clause")
@handle_errors
def review_clause(framework: str, clause_id: str, leads: int = typer.Option(3, help="How many leads to show "
                                                                                "below the candidates (0: none)."),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """Every candidate passage of one clause side by side, most confident first (settle it with `review settle
    ID`), and below them the clause's leads: documents the last mapping run ranked next without proposing them."""
    from dataclasses import asdict

    from rag.applicability import list_not_applicable
    from rag.export.tables import proposal_row
    from rag.queue import clause_leads, clause_view

    ctx = context()
    clause = ctx.catalog.clause(framework, clause_id)
    items = clause_view(ctx, ctx.workspace(), clause.framework, clause.id)
    ranked_next = clause_leads(ctx, ctx.workspace(), clause.framework, clause.id, leads)
    marked = [na for na in list_not_applicable(ctx, ctx.workspace())
              if (na["framework"], na["clause_id"]) == (clause.framework, clause.id)]
    if as_json:
        emit_json({"clause": clause.id, "framework": clause.framework, "not_applicable": marked[0] if marked else None,
                   "candidates": [proposal_row(p) for p in items], "leads": [asdict(lead) for lead in ranked_next]})
        return
    console.print(f"[bold]{clause.framework} {clause.id}[/] {escape(clause.title)}")
    if marked:
        console.print(f"  not applicable ({escape(marked[0]['actor'])}): {escape(marked[0]['reason'])}")
    console.print(table(f"{len(items)} candidate(s)", [
        {"id": p.id, "document": p.document_name, "conf": p.confidence, "status": p.status.value,
         "quote": _preview(p, 90)} for p in items]))
    _print_leads(ranked_next)


def _print_leads(leads) -> None:
    if not leads:
        return
    console.print(table("leads (ranked next by the last run, not proposed)", [
        {"rank": lead.rank, "document": lead.document, "conf": lead.confidence} for lead in leads]))
    console.print("[dim]the run stores its ranking per document, not the passage behind it: no quote to show[/]")


@review_app.command("settle")
@handle_errors
def review_settle(proposal_id: int, comment: str = typer.Option("", "--comment", "-m"),
                  who: Optional[str] = typer.Option(None, "--as")) -> None:
    """Approve this proposal and reject the other open candidates of its clause."""
    from rag.queue import settle_clause
    from rag.review import get_proposal

    ctx = context()
    p = get_proposal(ctx, ctx.workspace(), proposal_id)
    result = settle_clause(ctx, ctx.workspace(), p.framework, p.clause_id, proposal_id, actor(who), comment).as_dict()
    console.print(f"{p.framework} {p.clause_id}: {result['decided']} decided (1 approved, the rest rejected), "
                  f"{result['skipped']} skipped")


@review_app.command("counts")
@handle_errors
def review_counts(as_json: bool = typer.Option(False, "--json")) -> None:
    """To review, approved, rejected and not applicable, per framework."""
    from rag.queue import counts

    ctx = context()
    rows = counts(ctx, ctx.workspace())
    emit_json(rows) if as_json else console.print(table("Review counts", rows))


@na_app.command("mark")
@handle_errors
def na_mark(framework: str, clause_id: str, reason: str = typer.Option(..., "--reason", help="Why it does not apply."),
            who: Optional[str] = typer.Option(None, "--as")) -> None:
    """Mark a clause not applicable (it stops counting as a gap); the reason is required and audited."""
    from rag.applicability import mark_not_applicable

    ctx = context()
    made = mark_not_applicable(ctx, ctx.workspace(), framework, clause_id, reason, actor(who))
    console.print(f"{made['framework']} {made['clause_id']} marked not applicable by {made['actor']}")


@na_app.command("clear")
@handle_errors
def na_clear(framework: str, clause_id: str, comment: str = typer.Option("", "--comment", "-m"),
             who: Optional[str] = typer.Option(None, "--as")) -> None:
    """The clause applies again."""
    from rag.applicability import clear_not_applicable

    ctx = context()
    clear_not_applicable(ctx, ctx.workspace(), framework, clause_id, actor(who), comment)
    console.print(f"{framework} {clause_id} applies again")


@na_app.command("list")
@handle_errors
def na_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Clauses marked not applicable, with who, when and why."""
    from rag.applicability import list_not_applicable

    ctx = context()
    rows = list_not_applicable(ctx, ctx.workspace())
    emit_json(rows) if as_json else console.print(table("Not applicable", rows))


@audit_app.command("verify")
@handle_errors
def audit_verify() -> None:
    """Check the hash chain; exits non-zero and names the first bad event if anything was altered."""
    from rag import audit

    ctx = context()
    result = audit.verify_store(ctx)
    legacy = f" ({result.legacy_events} from before keying, plain sha256)" if result.legacy_events else ""
    if result.ok:
        console.print(f"[green]audit chain intact[/]: {result.events} events verified{legacy}")
        return
    where = f" at event {result.first_bad}" if result.first_bad else ""
    errors.print(f"[bold red]audit chain broken[/]{where}: {result.problem} ({result.events} events verified)")
    for finding in result.findings[1:]:
        errors.print(f"  also: {finding}", highlight=False)
    raise typer.Exit(6)


@audit_app.command("log")
@handle_errors
def audit_log(limit: int = typer.Option(30), as_json: bool = typer.Option(False, "--json")) -> None:
    """The latest audit events of the workspace."""
    from rag import audit

    ctx = context()
    events = audit.read_events(ctx, ctx.workspace(), limit)
    if as_json:
        emit_json(events)
        return
    console.print(table("Audit trail (newest first)", [
        {"seq": e["seq"], "at": e["at"][:19], "actor": e["actor"], "action": e["action"], "target": e["target"],
         "outcome": e["outcome"]} for e in events]))


@documents_app.command("list")
@handle_errors
def documents_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Documents of the workspace with their current version."""
    from rag.documents import list_documents

    ctx = context()
    docs = list_documents(ctx, ctx.workspace())
    emit_json(docs) if as_json else console.print(table("Documents", docs, [
        "id", "name", "title", "versions", "sha256", "media_type", "passages"]))
