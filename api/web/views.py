"""What the pages show, shaped for the templates: the review queue (a page of it, with its filter and counts),
the heatmap, the area grid, a document's sections and the narrative with numbered citations. Plain data only;
the templates escape every string."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from rag.context import Context
from rag.coverage import FOCUS_AREAS, CoverageReport, by_area
from rag.models import NarrativeSection
from rag import queue

QUEUE = "queue"  # proposed and needs-review together
STATUSES = [(QUEUE, "To review"), ("needs-review", "Changed"), ("approved", "Approved"),
            ("rejected", "Rejected"), ("all", "All")]
SORTS = [("clause", "Clause"), ("-confidence", "Confidence ↓"), ("confidence", "Confidence ↑"),
         ("document", "Document"), ("status", "Status")]
METHODS = ["offline", "llm", "crosswalk", "manual"]
PAGE_SIZES = (25, 50, 100, 200)


def clause_href(workspace: str, framework: str, clause_id: str) -> str:
    """The review page opened on one clause: all its candidates side by side, or the gap to mark not applicable."""
    query = urlencode({"status": "all", "framework": framework, "clause": clause_id, "view": "clause"})
    return f"/w/{quote(workspace)}/review?{query}"


def short_names(ctx: Context) -> dict[str, str]:
    return {k: ctx.catalog.framework(k).short for k in ctx.catalog.primary()}


@dataclass
class QueueView:
    """What the review page shows: one page of the filtered queue, the filter itself, and the counts."""

    items: list[dict]
    total: int
    offset: int
    limit: int
    filter: dict  # the filter as the bulk API takes it
    counts: list[dict]
    tab_counts: dict[str, int]

    @property
    def pages(self) -> dict:
        prev = max(0, self.offset - self.limit) if self.offset else None
        nxt = self.offset + self.limit if self.offset + self.limit < self.total else None
        return {"first": self.offset + 1 if self.total else 0, "last": min(self.total, self.offset + self.limit),
                "prev": prev, "next": nxt, "last_offset": max(0, (self.total - 1) // self.limit * self.limit)}


def queue_view(ctx: Context, workspace: str, f: queue.Filter, sort: str, limit: int, offset: int) -> QueueView:
    found = queue.page(ctx, workspace, f, sort, limit, offset)
    shorts = short_names(ctx)
    items = []
    for p in found.items:
        clause = ctx.catalog.find(p.framework, p.clause_id)
        items.append({"id": p.id, "framework": shorts.get(p.framework, p.framework), "framework_key": p.framework,
                      "clause_id": p.clause_id, "title": clause.title if clause else "", "document": p.document_name,
                      "status": p.status.value, "confidence": p.confidence, "method": p.method.value,
                      "updated_at": p.updated_at.isoformat()})
    counts = queue.counts(ctx, workspace)
    return QueueView(items=items, total=found.total, offset=found.offset, limit=found.limit,
                     filter={k: v for k, v in f.__dict__.items() if v not in (None, "")}, counts=counts,
                     tab_counts=tab_counts(counts, f.framework))


def tab_counts(counts: list[dict], framework: str | None) -> dict[str, int]:
    """The number beside each status tab, for the chosen framework or all of them."""
    rows = [c for c in counts if not framework or c["framework"] == framework]
    total = lambda key: sum(c[key] for c in rows)  # noqa: E731
    return {QUEUE: total("to_review"), "needs-review": total("needs_review"), "approved": total("approved"),
            "rejected": total("rejected"), "all": total("to_review") + total("approved") + total("rejected")}


def heat(report: CoverageReport) -> dict:
    """Rows are documents, columns frameworks; each cell a clause count and a 0-5 shade."""
    frameworks = [f.name for f in report.frameworks]
    documents = sorted({d for row in report.matrix.values() for d in row})
    peak = max((n for row in report.matrix.values() for n in row.values()), default=0) or 1
    rows = []
    for doc in documents:
        counts = [report.matrix.get(name, {}).get(doc, 0) for name in frameworks]
        rows.append({"document": doc, "cells": [{"framework": name, "n": n, "shade": 0 if not n else 1 + int(4 * n / peak)}
                                                for name, n in zip(frameworks, counts)]})
    return {"frameworks": frameworks, "documents": documents, "rows": rows}


MEDIA_LABELS = {"markdown": "Markdown", "plain": "Text", "html": "HTML", "pdf": "PDF", "openxmlformats": "Word",
                "msword": "Word"}


def media_label(media_type: str) -> str:
    return next((label for key, label in MEDIA_LABELS.items() if key in media_type), media_type[:12])


def gaps_by_framework(report: CoverageReport) -> list[dict]:
    names = {f.key: f.name for f in report.frameworks}
    groups: dict[str, list] = {}
    for c in report.gaps():
        groups.setdefault(c.framework, []).append(c)
    return [{"name": names[k], "clauses": v} for k, v in groups.items()]


def areas(report: CoverageReport) -> list[dict]:
    names = {f.key: f.name for f in report.frameworks}
    out = []
    for view in by_area(report):
        if not any(view.clauses.values()):
            continue
        clauses = [c for items in view.clauses.values() for c in items]
        out.append({"key": view.key, "label": view.label, "focus": view.key in FOCUS_AREAS,
                    "frameworks": [{"key": k, "name": names[k], "clauses": v} for k, v in view.clauses.items()],
                    "evidence": [{"document": doc, "cells": [fws.get(k, []) for k in view.clauses]}
                                 for doc, fws in sorted(view.evidence.items(), key=lambda kv: -sum(map(len, kv[1].values())))],
                    "covered": sum(c.status in ("covered", "partial") for c in clauses),
                    "total": len(clauses)})
    return sorted(out, key=lambda a: not a["focus"])


@dataclass
class Footnotes:
    """Numbered citations of a narrative: the same span cited twice keeps one number."""

    items: list[dict] = field(default_factory=list)
    _index: dict[tuple, int] = field(default_factory=dict)

    def number(self, c) -> int:
        key = (c.document_sha256, c.start, c.end)
        if key not in self._index:
            self.items.append({"n": len(self.items) + 1, "document": c.document_name or "", "sha256": c.document_sha256,
                               "start": c.start, "end": c.end, "heading": " › ".join(c.heading_path[1:] or c.heading_path),
                               "page": c.page})
            self._index[key] = len(self.items)
        return self._index[key]


def narrative_blocks(sections: list[NarrativeSection], notes: Footnotes, level: int = 2) -> list[dict]:
    blocks = []
    for section in sections:
        statements = [{"text": st.text, "marks": [notes.number(c) for c in st.citations],
                       "source": ", ".join(st.profile_keys), "criterion": st.criterion}
                      for st in section.statements]
        blocks.append({"level": level, "key": section.key, "title": section.title, "intro": section.intro,
                       "statements": statements})
        blocks += narrative_blocks(section.subsections, notes, level + 1)
    return blocks
