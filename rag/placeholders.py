"""Unrendered template placeholders (`{{companyShortName}}`, `{% if x %}`, `${var}`, `<%= x %>`, and bracketed
fill-ins such as `[Company Name]`): text a template engine or an editor was meant to replace. A document holding them is flagged when it is ingested, and no citation
ever quotes one: a placeholder is not what the organization's policy says."""

from __future__ import annotations

import re

# Bracketed fill-ins of policy templates: "[Company Name]", "[Number, e.g., 30]", "[Insert date]", "[URL]". Only
# brackets holding a fill-in word or an "e.g." count; a Markdown link "[text](url)", a checkbox "[x]", a footnote
# "[1]" or a reference such as "[RES-PROC-003]" does not.
_FILL_IN = (r"\[(?:[^\[\]\n]{0,60}\be\.g\.[^\[\]\n]{0,60}"
            r"|(?:(?:your|the)\s+)?(?:company|organi[sz]ation|entity|business|client)(?:\s+(?:short\s+)?name)?"
            r"|(?:insert|enter|replace|add|specify|fill\s+in)\b[^\[\]\n]{0,80}"
            r"|(?:url|link|phone(?:\s+number)?|e-?mail(?:\s+address)?|date|name|title|tbd|number|amount))\](?!\()")
PATTERN = re.compile(r"\{\{[^{}\n]{1,80}\}\}|\{%[^%\n]{1,120}%\}|\$\{[A-Za-z_][\w.\-]{0,60}\}|<%=?[^%\n]{1,80}%>|"
                     + _FILL_IN, re.IGNORECASE)
_SHOWN = 5


def find(text: str) -> list[str]:
    """The distinct placeholders of a text, in order of first appearance."""
    return list(dict.fromkeys(m.group(0) for m in PATTERN.finditer(text)))


def has(text: str) -> bool:
    return PATTERN.search(text) is not None


def warning(text: str) -> str | None:
    """The ingest warning for a document with placeholders, or None."""
    found = find(text)
    if not found:
        return None
    count = sum(1 for _ in PATTERN.finditer(text))
    shown = ", ".join(found[:_SHOWN]) + (f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN else "")
    return (f"unrendered template placeholders ({count}): {shown}; render the template first; text holding a "
            f"placeholder is never cited")


def clean_spans(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans cut around any placeholder they hold, so that no piece contains one (pieces kept stripped
    of surrounding blank space and punctuation-only edges)."""
    out = []
    for start, end in spans:
        cursor = start
        for m in PATTERN.finditer(text, start, end):
            out.append((cursor, m.start()))
            cursor = m.end()
        out.append((cursor, end))
    return [s for s in (_trim(text, a, b) for a, b in out) if s[1] > s[0]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and (text[start].isspace() or text[start] in ",;:'’"):
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
