"""Markdown and plain text to canonical text: headings keep their words, inline markup is dropped, list items
keep a "- " marker, table rows become cells joined by " | "."""

from __future__ import annotations

import re

from rag.ingest.document import ParsedDocument, TextBuilder

_HTML_TAG = re.compile(r"<[^>]+>")
_HIDDEN_HTML = re.compile(r"<(\w+)[^>]*(display\s*:\s*none|visibility\s*:\s*hidden|\shidden[\s>=])[^>]*>(.*?)</\1>",
                          re.I | re.S)
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)


_HIDDEN_OPEN = re.compile(r"<(\w+)[^>]*(display\s*:\s*none|visibility\s*:\s*hidden|\shidden[\s>=])", re.I)


def _inline_parts(token) -> tuple[str, str]:
    """(visible text, hidden text) of an inline token; inline HTML with a hiding style hides what it wraps."""
    out: list[str] = []
    secret: list[str] = []
    depth = 0
    for child in token.children or []:
        if child.type == "html_inline":
            if depth or _HIDDEN_OPEN.match(child.content):
                depth += -1 if child.content.startswith("</") else (0 if child.content.endswith("/>") else 1)
            continue
        if child.type in ("text", "code_inline", "image"):
            piece = child.content
        elif child.type in ("softbreak", "hardbreak"):
            piece = "\n"
        else:
            continue
        (secret if depth > 0 else out).append(piece)
    return "".join(out), "".join(secret)


def _inline_text(token) -> str:
    return _inline_parts(token)[0]


def parse_markdown(text: str) -> ParsedDocument:
    from markdown_it import MarkdownIt

    text = _FRONT_MATTER.sub("", text)
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    doc = TextBuilder()
    prefix_stack: list[str] = []
    row: list[str] | None = None
    rownum = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open":
            doc.heading(int(tok.tag[1]), _inline_text(tokens[i + 1]))
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
            doc.row(row, rownum)
            row, rownum = None, rownum + 1
        elif tok.type == "inline" and row is not None:
            row.append(_inline_text(tok).replace("\n", " ").strip())
        elif tok.type == "inline":
            marker = prefix_stack[-1] if prefix_stack else ""
            if marker == "" and prefix_stack:
                marker = f"{tokens[i - 2].info or '-'}. " if tokens[i - 2].type == "list_item_open" else ""
            visible, secret = _inline_parts(tok)
            doc.block(marker + visible)
            if secret.strip():
                doc.block(secret, hidden_reason="html-hidden")
        elif tok.type in ("fence", "code_block"):
            doc.block(tok.content)
        elif tok.type == "html_block":
            _html_block(doc, tok.content)
        i += 1
    return doc.build("text/markdown", "markdown-it")


def _html_block(doc: TextBuilder, html: str) -> None:
    hidden = [m.group(3) for m in _HIDDEN_HTML.finditer(html)]
    visible = _HIDDEN_HTML.sub(" ", html)
    doc.block(_HTML_TAG.sub(" ", visible))
    for chunk in hidden:
        doc.block(_HTML_TAG.sub(" ", chunk), hidden_reason="html-hidden")


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
