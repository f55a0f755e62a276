"""CLI verbs for what reaches the auditor: the system profile, the SOC 2 description and its readiness check,
the control matrix, the ISO 27001 Statement of Applicability, and exports of any workspace."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from api.console import actor, console, context, emit_json, errors, handle_errors, table
from rag.errors import InvalidInput

profile_app = typer.Typer(help="The system profile the SOC 2 description states (per workspace, versioned).",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(profile_app, name="profile")
    app.command("narrate")(narrate)
    app.command("export")(export)
    app.command("matrix")(matrix)
    app.command("soa")(soa)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}") from None


def _report_problems(path: Path, problems: list[str]) -> None:
    for line in problems:
        errors.print(f"{path}: {line}", highlight=False, markup=False, soft_wrap=True)
    errors.print(f"[bold red]{len(problems)} problem(s)[/] in {path}")
    raise typer.Exit(2)


# --- profile ----------------------------------------------------------------------------------------------


@profile_app.command("init")
@handle_errors
def profile_init(path: Optional[Path] = typer.Argument(None, help="Where to write it (stdout when omitted)."),
                 force: bool = typer.Option(False, help="Overwrite an existing file.")) -> None:
    """Write a commented starter profile (valid as written; replace the example values)."""
    from rag.profile import starter

    text = starter()
    if path is None:
        sys.stdout.write(text)
        return
    if path.exists() and not force:
        raise InvalidInput(f"{path} exists; pass --force to overwrite it")
    path.write_text(text, encoding="utf-8")
    console.print(f"wrote {path}; check it with `ctrlmap profile check {path}`")


@profile_app.command("check")
@handle_errors
def profile_check(path: Path = typer.Argument(..., help="Profile YAML.")) -> None:
    """Report every problem of a profile with its path in the file (exit 2), or confirm it is valid."""
    from rag.profile import problems_of

    problems = problems_of(_read(path))
    if problems:
        _report_problems(path, problems)
    console.print(f"{path}: valid system profile")


@profile_app.command("set")
@handle_errors
def profile_set(path: Path = typer.Argument(..., help="Profile YAML."),
                as_name: Optional[str] = typer.Option(None, "--as", help="Who stores it (default: you).")) -> None:
    """Store the profile as the workspace's new version (validated first; recorded in the audit trail)."""
    from rag.profile import ProfileInvalid, save

    ctx = context()
    try:
        stored = save(ctx, ctx.workspace(create=True), _read(path), actor(as_name))
    except ProfileInvalid as exc:
        _report_problems(path, exc.problems)
    console.print(f"stored profile version {stored['version']} for workspace {stored['workspace']} "
                  f"(sha256 {stored['sha256'][:12]})")


@profile_app.command("show")
@handle_errors
def profile_show(history: bool = typer.Option(False, "--versions", help="List the stored versions instead.")) -> None:
    """Print the workspace's stored profile (or its version history)."""
    from rag.profile import stored_text, versions

    ctx = context()
    workspace = ctx.workspace()
    if history:
        console.print(table(f"Profile versions of {workspace}", versions(ctx, workspace)))
        return
    text = stored_text(ctx, workspace)
    if text is None:
        raise InvalidInput(f"no profile stored for workspace {workspace}; `ctrlmap profile set FILE` stores one")
    sys.stdout.write(text)


# --- description, matrix, SoA -------------------------------------------------------------------------------


def _profile(ctx, workspace: str, path: Optional[Path]):
    from rag.profile import ProfileInvalid, current, parse

    if path is None:
        return current(ctx, workspace)
    try:
        return parse(_read(path), str(path))
    except ProfileInvalid as exc:
        _report_problems(path, exc.problems)


@handle_errors
def narrate(profile: Optional[Path] = typer.Option(None, help="Profile YAML [default: the workspace's stored one]."),
            out: Path = typer.Option(Path("."), help="Output folder."),
            title: Optional[str] = typer.Option(None),
            mode: Optional[str] = typer.Option(None, help="offline (extractive) or llm (criteria redrafted, checked)."),
            check: bool = typer.Option(False, "--check", help="Report what the description lacks; write nothing."),
            strict: bool = typer.Option(False, "--strict", help="With --check: exit 1 when anything is missing."),
            as_json: bool = typer.Option(False, "--json", help="With --check: machine-readable.")) -> None:
    """Draft the SOC 2 system description (Section III, DC 200) from approved mappings; Markdown and Word."""
    from rag.export import narrative_docx, narrative_md
    from rag.narrate import elements, readiness
    from rag.workflows import describe_system

    ctx = context(mode=mode)
    workspace = ctx.workspace()
    data = _profile(ctx, workspace, profile)
    if check:
        report = readiness(ctx, workspace, data)
        _print_readiness(report, as_json)
        if strict and not report.complete:
            raise typer.Exit(1)
        return
    desc = describe_system(ctx, workspace, data, title)
    out.mkdir(parents=True, exist_ok=True)
    (out / "system-description.md").write_text(narrative_md.render(desc.sections, desc.title, desc.period),
                                               encoding="utf-8")
    narrative_docx.write(desc.sections, desc.title, out / "system-description.docx", desc.period)
    console.print(f"wrote {out / 'system-description.md'} and {out / 'system-description.docx'}")
    found = elements(desc.sections, data)
    lacking = [e["key"] for e in found if e["status"] != "present"]
    if lacking:
        console.print(f"{len(lacking)} of the {len(found)} description elements need input ({', '.join(lacking)}) and are "
                      "empty headings in the draft; `ctrlmap narrate --check` says what each needs.")
    if desc.usage:
        console.print(table("Language model usage (this narrative)", [desc.usage]))
    if desc.problems:
        errors.print(f"[red]{len(desc.problems)} statement(s) failed the check[/]: {desc.problems[:5]}")
        raise typer.Exit(1)


def _print_readiness(report, as_json: bool) -> None:
    if as_json:
        emit_json({"complete": report.complete, "elements": report.elements, "criteria": report.criteria,
                   "problems": report.problems})
        return
    console.print(table("DC 200 description elements", report.elements, ["key", "title", "status", "missing"]))
    unsupported = [c for c in report.criteria if c["status"] == "unsupported"]
    supported = sum(c["status"] == "supported" for c in report.criteria)
    console.print(f"in-scope criteria: {supported} supported by approved evidence, {len(unsupported)} unsupported, "
                  f"{sum(c['status'] == 'not applicable' for c in report.criteria)} not applicable")
    if unsupported:
        console.print(table("Unsupported criteria", unsupported, ["id", "title"]))
    for line in report.problems:
        errors.print(f"[red]problem[/]: {line}")
    present = sum(e["status"] == "present" for e in report.elements)
    console.print(f"{present} of {len(report.elements)} elements present; "
                  f"{len(report.problems)} statement problem(s)")


@handle_errors
def matrix(out: Path = typer.Option(Path("."), help="Output folder.")) -> None:
    """The SOC 2 control matrix (criterion, approved statements, document, section, citation): MD, DOCX, XLSX."""
    from rag.export import matrix as build

    _write_tables(build.write_all, out, "control matrix")


@handle_errors
def soa(out: Path = typer.Option(Path("."), help="Output folder.")) -> None:
    """The ISO/IEC 27001:2022 Statement of Applicability (93 Annex A controls): MD, DOCX, XLSX."""
    from rag.export import soa as build

    _write_tables(build.write_all, out, "Statement of Applicability")


def _write_tables(write_all, out: Path, what: str) -> None:
    ctx = context()
    workspace = ctx.workspace()
    files = write_all(ctx, workspace, out, f"{_name(ctx, workspace)}: {what}")
    console.print("wrote " + ", ".join(str(f) for f in files))


def _name(ctx, workspace: str) -> str:
    from rag.profile import current

    p = current(ctx, workspace)
    return p.organization.legal_name if p else f"Workspace {workspace}"


@handle_errors
def export(fmt: str = typer.Option(..., "--format", help="csv, xlsx, json, oscal or bundle."),
           out: Path = typer.Option(Path("."), help="Output folder.")) -> None:
    """Export the workspace: every citation (CSV, XLSX, JSON), OSCAL component definition, or the evidence
    bundle (zip with description, matrix, SoA, texts, manifest and a standalone verify.py)."""
    from rag.export.bundle import export as write

    ctx = context()
    path = write(ctx, ctx.workspace(), fmt, out)
    console.print(f"wrote {path}")
