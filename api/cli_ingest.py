"""How `ctrlmap ingest` reports the files of a folder it did not take (the rules live in rag/ingest/select.py)."""

from __future__ import annotations

from api.console import console
from rag.ingest.select import Selection

SHOWN_PER_REASON = 8


def print_skipped(selection: Selection) -> None:
    """The skipped files grouped by reason, with counts, and how to bring one back."""
    if not selection.skipped:
        return
    groups: dict[str, list[str]] = {}
    for s in selection.skipped:
        groups.setdefault(s.reason, []).append(s.name)
    console.print(f"[bold]Skipped {len(selection.skipped)} file(s) or folder(s)[/] (not policy documents):")
    for reason, names in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        more = f" and {len(names) - SHOWN_PER_REASON} more" if len(names) > SHOWN_PER_REASON else ""
        console.print(f"  {len(names):>4}  {reason}: {', '.join(names[:SHOWN_PER_REASON])}{more}")
    console.print("  [dim]take one anyway with --include PATTERN; skip more with --exclude PATTERN or a "
                  ".ctrlmapignore file[/]")
