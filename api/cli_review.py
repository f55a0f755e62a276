"""CLI verbs for people: review proposals, list documents, read and verify the audit trail."""

from __future__ import annotations

from typing import Optional

import typer

from api.console import actor, console, context, emit_json, errors, handle_errors, table

review_app = typer.Typer(help="Approve, reject or edit proposals.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
documents_app = typer.Typer(help="Stored documents and versions.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")
    app.add_typer(audit_app, name="audit")
    app.add_typer(documents_app, name="documents")


@review_app.command("list")
@handle_errors
def review_list(framework: Optional[str] = typer.Option(None, "--framework", "-f"),
                status: Optional[str] = typer.Option("proposed", help="proposed, approved, rejected, needs-review, all"),
                min_confidence: Optional[float] = typer.Option(None),
                clause: Optional[str] = typer.Option(None),
                limit: int = typer.Option(50),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Proposals awaiting a decision (or any status)."""
    from rag.export.tables import proposal_row
    from rag.review import list_proposals

    ctx = context()
    items = list_proposals(ctx, ctx.workspace(), framework=framework, status=None if status == "all" else status,
                           clause_id=clause, min_confidence=min_confidence, limit=limit)
    if as_json:
        emit_json([proposal_row(p) for p in items])
        return
    rows = [{"id": p.id, "framework": p.framework, "clause": p.clause_id, "document": p.document_name,
             "conf": p.confidence, "coverage": p.coverage.value, "method": p.method.value, "status": p.status.value,
             "quote": (p.citations[0].quote[:70] + "…") if p.citations else ""} for p in items]
    console.print(table(f"{len(rows)} proposal(s)", rows))


def _decide(proposal_id: int, action: str, comment: str, who: Optional[str], **edit) -> None:
    from rag.export.tables import proposal_row
    from rag.models import Action
    from rag.review import Edit, decide

    ctx = context()
    result = decide(ctx, ctx.workspace(), proposal_id, actor(who), Action(action), comment,
                    Edit(**edit) if edit else None)
    row = proposal_row(result)
    console.print(f"proposal {result.id} ({result.framework} {result.clause_id} / {result.document_name}) is now "
                  f"[bold]{row['status']}[/] ({row['coverage']}); recorded in the audit trail")


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


@audit_app.command("verify")
@handle_errors
def audit_verify() -> None:
    """Check the hash chain; exits non-zero and names the first bad event if anything was altered."""
    from rag import audit

    ctx = context()
    with ctx.store.session() as s:
        result = audit.verify(s, ctx.settings.data_dir / "audit-head.json")
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
    with ctx.store.session() as s:
        events = audit.events(s, ctx.workspace(), limit)
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
