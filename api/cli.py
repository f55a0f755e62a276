"""The `ctrlmap` command line. Every verb calls the same functions the API does."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from api.console import STATE, actor, console, context, emit_json, errors, handle_errors, progress, table

app = typer.Typer(help="Map one set of policies to SOC 2, ISO 27001, ISO 42001 and NIST AI RMF, with verified "
                       "citations and a person approving every mapping.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
frameworks_app = typer.Typer(help="Framework catalogs.", no_args_is_help=True)
index_app = typer.Typer(help="The derived vector index.", no_args_is_help=True)
app.add_typer(frameworks_app, name="frameworks")
app.add_typer(index_app, name="index")


@app.callback()
def main_options(
    preset: Optional[str] = typer.Option(None, help="Named settings preset (offline, fast, thorough, llm, ollama)."),
    data_dir: Optional[Path] = typer.Option(None, help="Where the database and index live [default: ./.ctrlmap]."),
    workspace: Optional[str] = typer.Option(None, "--workspace", "-w", help="Workspace (tenant) to work in."),
    catalog: list[Path] = typer.Option([], help="Load licensed official text over the bundled descriptions "
                                                "(OSCAL JSON, CSV id,title,text, or JSON list). Repeatable."),
    verbose: bool = typer.Option(False, "--verbose", help="Also log every HTTP request to the model endpoint."),
) -> None:
    from rag.llm import http_logs

    STATE.preset, STATE.data_dir, STATE.workspace, STATE.catalogs = preset, data_dir, workspace, list(catalog)
    http_logs(verbose)


# --- demo ---------------------------------------------------------------------------------------------


@app.command()
@handle_errors
def demo(out: Path = typer.Option(Path("ctrlmap-demo"), help="Folder for the demo's outputs."),
         mode: Optional[str] = typer.Option(None, help="offline (default) or llm (needs a key or base URL)."),
         ) -> None:
    """Run the whole flow on the bundled sample organization, offline."""
    from rag.demo import run_demo

    ctx = context(mode=mode)
    started = time.perf_counter()
    with progress() as bars:
        ingest_task = bars.add_task("ingest", total=None)
        map_task = bars.add_task("map", total=None, visible=False)

        def on_ingest(result):
            bars.update(ingest_task, advance=1, description=f"ingest {result.name}")

        def on_map(stage, done, total):
            bars.update(map_task, visible=True, completed=done, total=total, description=stage)

        result = run_demo(ctx, out, step=lambda msg: console.print(f"[cyan]•[/] {msg}"),
                          ingest_progress=on_ingest, map_progress=on_map)
    counts = {s: sum(r.status == s for r in result.ingest) for s in ("ingested", "new-version", "unchanged", "rejected")}
    console.print(f"  documents: {counts['ingested']} ingested, {counts['new-version']} new versions, "
                  f"{counts['unchanged']} unchanged (not re-parsed or re-embedded), {counts['rejected']} rejected")
    d = result.decisions
    console.print(f"  decisions: {d.applied} applied, {d.added} added by hand, {d.already} already recorded, "
                  f"{len(d.missing)} without a matching proposal, {len(d.errors)} failed")
    for line in d.missing:
        console.print(f"  [dim]no proposal to decide on (the pipeline no longer proposes it): {line}[/]")
    for line in d.errors:
        errors.print(f"  [yellow]decision failed[/]: {line}")
    console.print(table("Demo summary", result.summary))
    _print_llm_usage(result.usage)
    console.print(f"citations verified against texts/: {result.citations_verified}/{result.citations_total}")
    if result.narrative_problems:
        errors.print(f"[red]narrative problems[/]: {result.narrative_problems[:5]}")
    console.print(f"outputs in [bold]{out.resolve()}[/]: " + ", ".join(p.name for p in result.files))
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    console.print(f"wall time {time.perf_counter() - started:.1f}s ({timings})")
    _orientation(ctx, result.workspace)
    if result.citations_verified != result.citations_total or result.narrative_problems:
        raise typer.Exit(1)


def _orientation(ctx, workspace: str) -> None:
    data = ctx.settings.data_dir.resolve()
    console.print(f"\nThe demo worked in workspace [bold]{workspace}[/] of the data directory [bold]{data}[/]. Try next:")
    for line in (f"ctrlmap -w {workspace} documents list", f"ctrlmap -w {workspace} review list --framework soc2",
                 f"ctrlmap -w {workspace} coverage --gaps"):
        console.print(f"  {line}")


# --- ingest -------------------------------------------------------------------------------------------


@app.command()
@handle_errors
def ingest(paths: list[str] = typer.Argument(..., help="Files, folders (recursively) or globs."),
           include: list[str] = typer.Option([], "--include", help="Also take files matching this gitignore-style "
                                             "pattern, over the default rules and .ctrlmapignore. Repeatable."),
           exclude: list[str] = typer.Option([], "--exclude", help="Skip files matching this pattern. Repeatable."),
           as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
           who: Optional[str] = typer.Option(None, "--as", help="Who is ingesting [default: CTRLMAP_ACTOR or you].")
           ) -> None:
    """Parse, version, chunk and index policy documents. In folders only documents are taken (PDF, DOCX, Markdown,
    text, HTML); code, lock files, data and templates are listed as skipped. Bad files are reported (exit 3)."""
    from api.cli_ingest import print_skipped
    from rag.ingest.select import select_files
    from rag.workflows import ingest_documents

    ctx = context()
    selection = select_files(paths, include, exclude)
    files = selection.files
    if not files:
        print_skipped(selection)
        errors.print(f"[bold red]error[/]: nothing to ingest: no documents among {' '.join(paths)}")
        raise typer.Exit(3)
    with progress() as bars:
        task = bars.add_task("ingest", total=len(files))
        outcome = ingest_documents(ctx, ctx.settings.workspace, paths, actor(who), files=files,
                                   progress=lambda r: bars.update(task, advance=1, description=f"ingest {r.name}"))
    results, counts = outcome.results, outcome.counts
    if as_json:
        emit_json([r.as_dict() for r in results]
                  + [{"name": s.name, "status": "skipped", "reason": s.reason} for s in selection.skipped])
    else:
        rows = [{"document": r.name, "status": r.status, "version": r.version, "passages": r.passages,
                 "reason": r.reason or "", "detail": r.message or _change_note(r)} for r in results]
        console.print(table(f"Ingested into workspace {outcome.workspace}", rows))
        print_skipped(selection)
        console.print(", ".join(f"{v} {k}" for k, v in counts.items()) + f", {len(selection.skipped)} skipped"
                      + f", {sum(bool(r.warnings) for r in results)} with warnings")
    if outcome.repaired and outcome.repaired.needs_review:
        errors.print(f"[yellow]{len(outcome.repaired.needs_review)} mapping(s) citing text that is no longer current "
                     "were sent back to review (left over from an interrupted run)[/]")
    if as_json:  # the table already shows them; with --json, people still see them on stderr
        for r in results:
            if r.status == "rejected":
                errors.print(f"[bold red]rejected[/] {r.name}: {r.reason}: {r.message}")
    if counts["rejected"]:
        raise typer.Exit(3)


def _change_note(r) -> str:
    drift = r.drift
    notes = []
    if r.hidden_passages:
        notes.append(f"{r.hidden_passages} hidden passage(s) flagged, never cited")
    if r.status == "new-version":
        notes.append(f"{len(r.changed_sections)} section(s) changed, {len(r.dropped_passages)} passage(s) no "
                     f"longer verbatim")
        if drift and (drift.needs_review or drift.reanchored):
            notes.append(f"{len(drift.needs_review)} mapping(s) back to review, {len(drift.reanchored)} re-anchored")
    notes.extend(r.warnings)
    return "; ".join(notes)


# --- map ----------------------------------------------------------------------------------------------


@app.command("map")
@handle_errors
def map_command(framework: list[str] = typer.Option([], "--framework", "-f", help="Framework key (repeatable)."),
                mode: Optional[str] = typer.Option(None, help="offline or llm."),
                dry_run: bool = typer.Option(False, "--dry-run", help="LLM mode: print calls, tokens and cost only."),
                as_json: bool = typer.Option(False, "--json"),
                who: Optional[str] = typer.Option(None, "--as", help="Who runs it [default: CTRLMAP_ACTOR or you].")
                ) -> None:
    """Propose mappings (and report gaps) for every assessable clause of the chosen frameworks."""
    from rag.workflows import run_mapping

    ctx = context(mode=mode)
    workspace = ctx.workspace()
    keys = ctx.catalog.keys(framework) or ctx.catalog.primary()  # aliases (soc2, iso27001, ...) accepted
    if dry_run:
        from rag.judge import dry_run as estimate

        report = estimate(ctx, workspace, keys)
        emit_json(report) if as_json else console.print(table("LLM dry run (no calls made)", [report]))
        return
    with progress() as bars:
        task = bars.add_task("map", total=None)
        outcome = run_mapping(ctx, workspace, keys, actor(who),
                              progress=lambda stage, done, total: bars.update(task, completed=done, total=total,
                                                                              description=stage))
    run, saved = outcome.run, outcome.saved
    if as_json:
        emit_json({"run": run.run_id, **run.stats, "saved": saved.__dict__,
                   "coverage": _coverage_rows(outcome.coverage),
                   "gaps": [c.__dict__ for c in outcome.coverage.gaps()]})
        return
    console.print(table(f"Mapping run {run.run_id} in workspace {workspace}", _coverage_rows(outcome.coverage)))
    console.print(f"saved: {outcome.summary()}. Review them with `ctrlmap -w {workspace} review list`.")
    _print_llm_usage(outcome.usage)


def _coverage_rows(report) -> list[dict]:
    """Per framework, the one coverage definition (rag.coverage): what `map`, `coverage` and the API all show."""
    return [{"framework": f.key, "clauses": f.clauses, "covered (full)": f.covered, "partial": f.partial,
             "awaiting review": f.awaiting, "gaps": f.gaps if f.mapped else "not mapped",
             "covered %": round(f.percent, 1)} for f in report.frameworks]


def _print_llm_usage(usage: dict) -> None:
    if usage:
        console.print(table("Language model usage (this run)", [usage]))


# --- frameworks, coverage, index ------------------------------------------------------------


@frameworks_app.command("list")
@handle_errors
def frameworks_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Each loaded framework with its key and clause counts by kind."""
    ctx = context()
    data = [{"key": fw.key, "name": fw.name, "version": fw.version, "clauses": len(fw.clauses),
             "assessable": len(fw.assessable()), "by_kind": fw.counts_by_kind(),
             "superseded_by": fw.superseded_by} for fw in ctx.catalog.frameworks.values()]
    if as_json:
        emit_json(data)
        return
    rows = [{**d, "by_kind": ", ".join(f"{k} {v}" for k, v in d["by_kind"].items())} for d in data]
    console.print(table(f"Frameworks (catalog version {ctx.catalog.version})", rows,
                        ["key", "name", "assessable", "by_kind", "superseded_by"]))


@app.command()
@handle_errors
def coverage(framework: list[str] = typer.Option([], "--framework", "-f"),
             out: Optional[Path] = typer.Option(None, help="Write coverage.md and coverage.png here."),
             gaps: bool = typer.Option(False, "--gaps", help="List the gaps."),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Covered, awaiting review, and gaps, per framework."""
    from rag.coverage import coverage as compute
    from rag.export import coverage_report

    ctx = context()
    report = compute(ctx, ctx.workspace(), framework or None)
    if as_json:
        emit_json({"frameworks": [f.__dict__ | {"percent": f.percent} for f in report.frameworks],
                   "clauses": [c.__dict__ for c in report.clauses]})
        return
    console.print(table("Coverage", _coverage_rows(report)))
    if gaps:
        console.print(table("Gaps", [{"framework": c.framework, "clause": c.clause_id, "title": c.title}
                                     for c in report.gaps()]))
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "coverage.md").write_text(coverage_report.markdown(report), encoding="utf-8")
        coverage_report.heatmap(report, out / "coverage.png")
        console.print(f"wrote {out / 'coverage.md'} and {out / 'coverage.png'}")


@index_app.command("rebuild")
@handle_errors
def index_rebuild() -> None:
    """Drop the workspace's vectors and rebuild them from the SQL store."""
    from rag.corpus import sync_index

    ctx = context()
    workspace = ctx.workspace()
    ctx.index.drop(workspace)
    with progress() as bars:
        task = bars.add_task("embed", total=None)
        added, _ = sync_index(ctx, workspace, lambda n: bars.update(task, advance=n))
    console.print(f"re-embedded {added} passages from the store")


@index_app.command("check")
@handle_errors
def index_check() -> None:
    """Compare the vector index with the store: exit 7 when they disagree (`index rebuild` repairs it)."""
    from rag.corpus import index_agreement

    ctx = context()
    missing, extra = index_agreement(ctx, ctx.workspace())
    console.print(f"{missing} current passage(s) missing from the index, {extra} stale vector(s)")
    if missing or extra:
        raise typer.Exit(7)


def _register_subcommands() -> None:
    from api import cli_db, cli_deliver, cli_review, cli_scale, cli_serve

    cli_db.register(app)
    cli_scale.register(app)
    cli_review.register(app)
    cli_serve.register(app)
    cli_deliver.register(app)
    try:
        from api import cli_eval
    except ImportError:  # evals are optional in a trimmed install
        return
    cli_eval.register(app)


_register_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
