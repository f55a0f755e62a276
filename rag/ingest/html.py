"""HTML to canonical text with the standard library's parser: headings, paragraphs, list items, table rows.
Scripts and styles are dropped; text hidden by CSS or the `hidden` attribute is kept but flagged."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from rag.ingest.document import ParsedDocument, TextBuilder

_BLOCKS = {"p", "div", "li", "tr", "section", "article", "blockquote", "pre", "dd", "dt", "caption", "br",
           "ul", "ol", "table", "header", "footer", "main", "nav", "aside", "figcaption", "address"}
_SKIP = {"script", "style", "template", "noscript", "head", "svg", "math", "iframe", "object"}
_VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base", "source"}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(\.0*)?(px|pt|em)?\s*(;|$)",
                           re.I)


class _Walker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.doc = TextBuilder()
        self.stack: list[tuple[str, bool]] = []  # (tag, hidden)
        self.buffer: list[str] = []
        self.secret: list[str] = []
        self.cells: list[str] | None = None
        self.rownum = 0
        self.heading: int | None = None
        self.skip = 0
        self.title: str | None = None
        self._in_title = False

    @property
    def hidden(self) -> bool:
        return any(h for _, h in self.stack)

    def flush(self) -> None:
        """Visible text becomes a heading, a cell or a block; hidden text (block or inline) a flagged block."""
        text = "".join(self.buffer).strip()
        secret = "".join(self.secret).strip()
        self.buffer.clear()
        self.secret.clear()
        if text and self.heading:
            self.doc.heading(self.heading, text)
        elif text and self.cells is not None:
            self.cells.append(re.sub(r"\s+", " ", text))
        elif text:
            self.doc.block(re.sub(r"[ \t]+", " ", text))
        if secret:
            self.doc.block(re.sub(r"\s+", " ", secret), hidden_reason="html-hidden")

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "title":
            self._in_title = True
        if tag in _SKIP:
            self.skip += tag not in _VOID
            return
        hidden = "hidden" in attrs or bool(_HIDDEN_STYLE.search(attrs.get("style") or ""))
        if tag in _VOID:
            if tag == "br":
                self.buffer.append("\n")
            return
        if tag in _BLOCKS or re.fullmatch(r"h[1-6]", tag) or tag in ("td", "th"):
            self.flush()
        if re.fullmatch(r"h[1-6]", tag):
            self.heading = int(tag[1])
        if tag == "table":
            self.doc.table_start()
        if tag == "tr":
            self.cells = []
        if tag == "li":
            self.buffer.append("- ")
        if hidden and not self.hidden:
            self.buffer.append(" ")  # keep the words either side of an inline hidden element apart
        self.stack.append((tag, hidden))

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if tag in _VOID or not any(t == tag for t, _ in self.stack):
            return
        if tag in _BLOCKS or re.fullmatch(r"h[1-6]", tag) or tag in ("td", "th"):
            self.flush()
        if re.fullmatch(r"h[1-6]", tag):
            self.heading = None
        if tag == "tr" and self.cells is not None:
            row, self.cells = self.cells, None
            self.doc.row(row, self.rownum)  # hidden cell text never reaches `row`: see flush
            self.rownum += 1
        if tag == "table":
            self.doc.table_end()
            self.rownum = 0
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if self._in_title:
            self.title = (self.title or "") + data.strip()
        if not self.skip:
            (self.secret if self.hidden else self.buffer).append(data)


def parse_html(text: str) -> ParsedDocument:
    walker = _Walker()
    walker.feed(text)
    walker.close()
    walker.flush()
    return walker.doc.build("text/html", "html.parser", title=walker.title or None)
