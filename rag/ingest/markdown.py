"""Markdown and plain text to canonical text: headings keep their words, inline markup is dropped, list items
keep a "- " marker, table rows become cells joined by " | ".

HTML inside Markdown (blocks and inline tags) goes through one streaming HTML walker for the whole file, so
what a browser would hide stays flagged however the Markdown splits it: a `display:none` block with blank
lines inside (several Markdown tokens), nested hidden elements, white or tiny spans, hiding `<style>` rules,
and comments (with `>` in them or not), which are dropped."""

from __future__ import annotations

import re

from rag.ingest import css
from rag.ingest.document import ParsedDocument, TextBuilder, hidden_groups
from rag.ingest.html import HtmlFlow

_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)


def _inline_parts(token, flow: HtmlFlow) -> tuple[str, list[tuple[str, str | None]]]:
    """(visible text, pieces with their hiding reason) of an inline token. Its inline HTML goes through the
    document's HTML walker, so a span opened in one place hides what follows until it is closed."""
    pieces: list[tuple[str, str | None]] = []
    depth = len(flow.stack)
    for child in token.children or []:
        if child.type == "html_inline":
            flow.feed(child.content)
            pieces.extend(flow.pieces)  # text the walker took in with the tag (rare)
            flow.pieces.clear()
            continue
        if child.type in ("text", "code_inline", "image"):
            piece = child.content
        elif child.type in ("softbreak", "hardbreak"):
            piece = "\n"
        else:
            continue
        pieces.append((piece, flow.reason))
    flow.close_inline(depth)
    return "".join(t for t, why in pieces if why is None), pieces


def _hidden(doc: TextBuilder, pieces: list[tuple[str, str | None]]) -> None:
    for text, why in hidden_groups(pieces):
        doc.block(text, hidden_reason=why)


def parse_markdown(text: str) -> ParsedDocument:
    from markdown_it import MarkdownIt

    text = _FRONT_MATTER.sub("", text)
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    doc = TextBuilder()
    flow = HtmlFlow(doc, css.parse_sheet(css.style_blocks(text)))
    prefix_stack: list[str] = []
    row: list[tuple[str, list]] | None = None
    rownum = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open":
            visible, pieces = _inline_parts(tokens[i + 1], flow)
            if visible.strip():
                doc.heading(int(tok.tag[1]), visible)
            _hidden(doc, pieces)
            i += 3
            continue
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            prefix_stack.append("- " if tok.type == "bullet_list_open" else "")
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            prefix_stack.pop()
        elif tok.type == "table_open":
            doc.table_start()
            rownum = 0
        elif tok.type == "table_close":
            doc.table_end()
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "tr_close" and row is not None:
            doc.row([cell for cell, _ in row], rownum)
            _hidden(doc, [p for _, pieces in row for p in pieces])
            row, rownum = None, rownum + 1
        elif tok.type == "inline" and row is not None:
            visible, pieces = _inline_parts(tok, flow)
            row.append((visible.replace("\n", " ").strip(), pieces))
        elif tok.type == "inline":
            marker = prefix_stack[-1] if prefix_stack else ""
            if marker == "" and prefix_stack:
                marker = f"{tokens[i - 2].info or '-'}. " if tokens[i - 2].type == "list_item_open" else ""
            visible, pieces = _inline_parts(tok, flow)
            doc.block(marker + visible)
            _hidden(doc, pieces)
        elif tok.type in ("fence", "code_block"):
            doc.block(tok.content, hidden_reason=flow.reason)
        elif tok.type == "html_block":
            flow.feed(tok.content)
            flow.flush()
        i += 1
    flow.close()
    flow.flush()
    return doc.build("text/markdown", "markdown-it")


_NUMBERED = re.compile(r"^(\d+(\.\d+)*\.?|[A-Z]\.|section \d+)\s+\S", re.I)


def _looks_like_heading(line: str, prev_blank: bool, next_blank: bool) -> int | None:
    """Plain-text heading heuristic: a short line on its own, numbered or in title/upper case."""
    if not (prev_blank and next_blank) or len(line) > 90 or line.endswith((".", ",", ";", ":")):
        return None
    words = line.split()
    if not words or len(words) > 12:
        return None
    if _NUMBERED.match(line):
        depth = line.split()[0].rstrip(".").count(".")
        return min(depth + 2, 6)  # below an all-caps title line (level 1)
    if line.isupper() and any(c.isalpha() for c in line):
        return 1
    if sum(w[0].isupper() for w in words if w[0].isalpha()) >= max(1, int(0.7 * len(words))):
        return 2
    return None


def parse_text(text: str) -> ParsedDocument:
    doc = TextBuilder()
    add_plain_text(doc, text)
    return doc.build("text/plain", "text")


def add_plain_text(doc: TextBuilder, text: str) -> None:
    """Paragraphs separated by blank lines; short stand-alone numbered or title-case lines become headings."""
    lines = text.split("\n")
    para: list[str] = []

    def flush() -> None:
        if para:
            doc.block("\n".join(para))
            para.clear()

    for n, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            flush()
            continue
        prev_blank = n == 0 or not lines[n - 1].strip()
        next_blank = n + 1 >= len(lines) or not lines[n + 1].strip()
        level = _looks_like_heading(line, prev_blank, next_blank)
        if level:
            flush()
            doc.heading(level, line)
        else:
            para.append(line)
    flush()
