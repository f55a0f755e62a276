"""Shared CLI plumbing: the context from global options, error handling, progress bars, tables."""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from rag.context import Context
from rag.errors import CtrlmapError
from rag.settings import Settings

console = Console(stderr=False, width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True)


class State:
    preset: str | None = None
    data_dir: Path | None = None
    workspace: str | None = None
    catalogs: list[Path] = []


STATE = State()


def context(**overrides: Any) -> Context:
    settings = Settings.load(STATE.preset, data_dir=STATE.data_dir, workspace=STATE.workspace, **overrides)
    return Context(settings, catalog_overlays=STATE.catalogs)


def actor(name: str | None) -> str:
    return name or os.environ.get("CTRLMAP_ACTOR") or getpass.getuser()


def handle_errors(fn: Callable) -> Callable:
    """Print a CtrlmapError as one clear line and exit with its code; never a traceback for bad input."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CtrlmapError as exc:
            errors.print(f"[bold red]error[/]: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            errors.print("[yellow]interrupted[/]: nothing half-written was kept")
            raise typer.Exit(130) from None

    return wrapper


def progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=errors, transient=True,
                    disable=not sys.stderr.isatty() and not os.environ.get("CTRLMAP_PROGRESS"))


def table(title: str, rows: list[dict], columns: list[str] | None = None) -> Table:
    columns = columns or (list(rows[0]) if rows else [])
    t = Table(title=title, title_justify="left")
    for col in columns:
        numeric = rows and isinstance(rows[0].get(col), (int, float))
        t.add_column(col, justify="right" if numeric else "left")
    for row in rows:
        t.add_row(*[_cell(row.get(c)) for c in columns])
    return t


def _cell(value: Any) -> str:
    """A table cell as literal text: a policy's "[Company Name]" or "[specify period]" is not console markup."""
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else escape(str(value))


def emit_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))
