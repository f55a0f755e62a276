"""HTML to canonical text with the standard library's parser: headings, paragraphs, list items, table rows.

Scripts, styles and comments are dropped. Text a reader cannot see stays in the canonical text in blocks of
its own, flagged with the reason (see css.py): the `hidden` attribute, and inline styles or `<style>` rules
(by tag, class or id) that hide, make transparent, move off screen, clip, whiten or shrink it. The walker
keeps counters next to its stack of open elements, so each tag and each piece of text costs constant time
however deep the nesting or however many tags are left unclosed. The Markdown parser reuses `HtmlFlow` for
the HTML inside a Markdown file.
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

from rag.ingest import css
from rag.ingest.document import ParsedDocument, TextBuilder, hidden_groups

_BLOCKS = {"p", "div", "li", "tr", "section", "article", "blockquote", "pre", "dd", "dt", "caption", "br",
           "ul", "ol", "table", "header", "footer", "main", "nav", "aside", "figcaption", "address", "details",
           "summary", "form", "fieldset", "dl", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "hr"}
_SKIP = {"script", "style", "template", "noscript", "head", "svg", "math", "iframe", "object"}
_VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base", "source", "embed", "param",
         "track"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


class HtmlFlow(HTMLParser):
    """A streaming walker: feed it HTML (in one piece or in fragments) and it writes blocks to `doc`."""

    def __init__(self, doc: TextBuilder, sheet: css.Sheet | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.doc = doc
        self.sheet = sheet or css.Sheet()
        # open elements: (tag, hides, color, tiny, painted), the inherited state already worked out
        self.stack: list[tuple[str, bool, str | None, bool, bool]] = []
        self.open: Counter = Counter()
        self.hard: list[str] = []  # hiding reasons of the open elements that hide all they contain
        self.pieces: list[tuple[str, str | None]] = []  # (text, hiding reason or None) since the last flush
        self.cells: list[str] | None = None
        self.rownum = 0
        self.heading: int | None = None
        self.skip = 0
        self.title: str | None = None
        self._in_title = False

    @property
    def reason(self) -> str | None:
        """Why text at this point cannot be seen, or None when it can."""
        if self.hard:
            return self.hard[0]
        if not self.stack:
            return None
        _, _, color, tiny, painted = self.stack[-1]
        if color == "clear":
            return css.TRANSPARENT
        if color == "white" and not painted:
            return css.WHITE
        return css.TINY if tiny else None

    def flush(self) -> None:
        """Visible text becomes a heading, a cell or a block; hidden text (block or inline) flagged blocks."""
        if not self.pieces:
            return
        text = "".join(t for t, why in self.pieces if why is None).strip()
        hidden = hidden_groups(self.pieces)
        self.pieces.clear()
        if text and self.heading:
            self.doc.heading(self.heading, text)
        elif text and self.cells is not None:
            self.cells.append(re.sub(r"\s+", " ", text))
        elif text:
            self.doc.block(re.sub(r"[ \t]+", " ", text))
        for secret, why in hidden:
            self.doc.block(re.sub(r"\s+", " ", secret), hidden_reason=why)

    def _look(self, tag: str, attrs: dict) -> css.Look:
        if not attrs and not self.sheet.by_key:
            return css.Look()
        classes = (attrs.get("class") or "").split()[:css.MAX_CLASSES]
        found = self.sheet.look_of(tag, classes, attrs.get("id"))
        if attrs.get("style"):
            found = found.merge(css.look(css.declarations(attrs["style"])))
        if tag == "font" and attrs.get("color"):
            found = found.merge(css.Look(color=css.color_kind(attrs["color"])))
        if "hidden" in attrs:
            found.hides = found.hides or css.HIDDEN
        return found

    def _push(self, tag: str, found: css.Look) -> None:
        color, tiny, painted = (self.stack[-1][2:] if self.stack else (None, False, False))
        color = found.color or color
        painted = painted if found.painted is None else found.painted  # an ancestor's background shows through
        tiny = tiny if found.tiny is None else found.tiny
        was_visible = self.reason is None
        self.stack.append((tag, bool(found.hides), color, tiny, painted))
        self.open[tag] += 1
        if found.hides:
            self.hard.append(found.hides)
        if was_visible and self.reason is not None:
            self.pieces.append((" ", None))  # keep the words either side of an inline hidden element apart

    def _pop(self) -> str:
        tag, hides, *_ = self.stack.pop()
        self.open[tag] -= 1
        if hides:
            self.hard.pop()
        return tag

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self._in_title = True
        if tag in _SKIP:
            self.skip += 1
            return
        if tag in _VOID:
            if tag in ("br", "hr"):
                self.pieces.append(("\n", None))
            return
        attrs = dict(attrs)
        if tag in _BLOCKS:
            self.flush()
        if tag in _HEADINGS:
            self.heading = _HEADINGS[tag]
        if tag == "table":
            self.doc.table_start()
        if tag == "tr":
            self.cells = []
        self._push(tag, self._look(tag, attrs))
        if tag == "li":
            self.pieces.append(("- ", self.reason))

    def handle_startendtag(self, tag, attrs):
        """`<div/>` opens a div, as in a browser (the slash means nothing on an HTML element)."""
        if tag not in _SKIP:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if tag in _VOID or not self.open[tag]:
            return
        if tag in _BLOCKS:
            self.flush()
        if tag in _HEADINGS:
            self.heading = None
        if tag == "tr" and self.cells is not None:
            row, self.cells = self.cells, None
            self.doc.row(row, self.rownum)  # hidden cell text never reaches `row`: see flush
            self.rownum += 1
        if tag == "table":
            self.doc.table_end()
            self.rownum = 0
        while self.stack and self._pop() != tag:
            pass

    def handle_data(self, data):
        if self._in_title:
            self.title = (self.title or "") + data.strip()
        if not self.skip:
            self.pieces.append((data, self.reason))

    def close_inline(self, depth: int) -> None:
        """Close the inline elements opened above `depth` (a browser ends them with their paragraph)."""
        while len(self.stack) > depth and self.stack[-1][0] not in _BLOCKS:
            self._pop()


def defused(html: str) -> str:
    """The document as a browser reads it, without the constructs the standard parser rescans to the end of
    the input for each time it meets them (quadratic: thousands of `<!--` or `<a b="` never closed). An unclosed
    comment hides the rest of the document in a browser, so the rest is dropped; a `<` after the last `>` can
    never start a tag, so it is text."""
    close = html.rfind("-->")
    start = html.find("<!--", close + 3 if close >= 0 else 0)
    if start >= 0:
        html = html[:start]
    last = html.rfind(">")
    if "<" in html[last + 1:]:
        html = html[:last + 1] + html[last + 1:].replace("<", "&lt;")
    return html


def parse_html(text: str) -> ParsedDocument:
    walker = HtmlFlow(TextBuilder(), css.parse_sheet(css.style_blocks(text)))
    walker.feed(defused(text))
    walker.close()
    walker.flush()
    return walker.doc.build("text/html", "html.parser", title=walker.title or None)
