"""Whole statements from a policy passage: what the offline description may quote.

A passage's canonical text is read as blocks (paragraphs re-joined across hard wraps, list items, table rows,
headings; template directives such as `{{#if x}}` are not text); paragraphs are split into whole sentences.
A statement is one whole sentence; a sentence (or a heading) that introduces a list, with its items; a
sentence that opens with a reference to the one before it ("This", "It", ...), together with that one; or a
list item that is a whole clause. Table rows, headings, fragments, sentences that point at something the
statement cannot show ("the table above", a sentence right after a table) and sentences of an unfilled
template ("[person responsible]") are left out. Each statement keeps the character spans it rests on, so its
citations are verbatim spans of the stored text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ITEM = re.compile(r"^[ \t]*(?:[-*+\u2022]|\(?[0-9]{1,2}[.)]|\(?[a-z][.)])[ \t]+")
_NUMBER = re.compile(r"^(?:\d+(?:\.\d+)*\.?|[A-Z]\.\d+(?:\.\d+)*)\s+(?=[A-Z\"'(])")
_SENTENCE = re.compile(r"(?<=[.!?])([\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])")
_REFERS_BACK = re.compile(r"^(?:this|these|that|those|it|its|they|their|them|such|both|either|neither|he|she|"
                          r"here|thereafter|otherwise|in addition|additionally|also|however|furthermore|"
                          r"despite this|as a result|as such|for this reason|in this case|in that case)\b", re.I)
_POINTS_AWAY = re.compile(r"\b(?:above|below|the following|as follows|this table|the table)\b|:$"
                          r"|\breference \([a-z0-9]{1,3}\)", re.I)
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|etc|vs|no|Inc|Ltd|Co|Corp|Mr|Ms|Dr|Sec|approx)\.$", re.I)
_PLACEHOLDER = re.compile(r"\[[^\]\n]*\s[^\]\n]*\]|\{\{|\}\}")  # "[person responsible]": an unfilled template
_DIRECTIVE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")
MAX_ITEM_WORDS = 28


@dataclass
class Statement:
    spans: list[tuple[int, int]]
    text: str
    listed: bool = False  # a list with its introducing sentence

    @property
    def start(self) -> int:
        return self.spans[0][0]

    @property
    def end(self) -> int:
        return self.spans[-1][1]


@dataclass
class _Block:
    kind: str  # para, item, table, heading
    start: int
    end: int
    sentences: list[tuple[int, int]] = field(default_factory=list)


def clean(text: str) -> str:
    """A span as one line: whitespace runs collapsed, a leading list marker or section number dropped, a
    semicolon between two clauses rendered as a comma."""
    return _NUMBER.sub("", flat(_ITEM.sub("", text, count=1)), count=1)


def flat(text: str) -> str:
    """Whitespace runs collapsed; two clauses a semicolon joins rendered with a comma (so a reader never meets
    the '; lower-case' pattern a broken line join leaves)."""
    return re.sub(r";\s+(?=[a-z])", ", ", " ".join(str(text).split()))


def _lines(text: str, start: int, end: int):
    pos = start
    for line in text[start:end].split("\n"):
        yield pos, pos + len(line), line
        pos += len(line) + 1


def _is_table(line: str) -> bool:
    return line.count("|") >= 1 and (" | " in line or line.strip().startswith("|"))


def blocks(text: str, start: int, end: int) -> list[_Block]:
    out: list[_Block] = []
    current: _Block | None = None
    for s, e, line in _lines(text, start, end):
        stripped = line.strip()
        if not stripped or _DIRECTIVE.fullmatch(stripped):  # a template directive is not text a reader sees
            current = None
            continue
        s += len(line) - len(line.lstrip())
        e = s + len(stripped)
        if _is_table(stripped):
            out.append(_Block("table", s, e))
            current = None
        elif _ITEM.match(line):
            current = _Block("item", s, e)
            out.append(current)
        elif current is not None and current.kind in ("para", "item"):
            current.end = e  # a hard wrap inside a paragraph or list item
        else:
            current = _Block("para", s, e)
            out.append(current)
    for b in out:
        if b.kind == "para" and _heading(text[b.start:b.end]):
            b.kind = "heading"
        if b.kind in ("para", "item"):
            b.sentences = _sentences(text, b.start, b.end)
    return out


def _heading(block: str) -> bool:
    words = block.split()
    return "\n" not in block.strip() and len(words) <= 12 and not re.search(r"[.!?:;,)\"']$", block.strip())


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans, pos = [], start
    for m in _SENTENCE.finditer(text, start, end):
        stop = m.start() + len(m.group(1))
        if _ABBREVIATION.search(text[pos:m.start()]):
            continue
        spans.append((pos, stop))
        pos = m.end()
    spans.append((pos, end))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _whole(sentence: str) -> bool:
    """Starts like a sentence, ends like one, and has a verb's worth of words."""
    return _whole_text(clean(sentence))


def _whole_text(s: str) -> bool:
    return len(s.split()) >= 4 and bool(re.match(r"[\"'(]?[A-Z0-9]", s)) and bool(re.search(r"[.!?][\"')\]]*$", s))


def _item_text(text: str, block: _Block) -> str:
    return re.sub(r"[;,.]?\s*(?:and|or)?$", "", clean(text[block.start:block.end])).rstrip(" ;,.")


def statements(text: str, start: int, end: int) -> list[Statement]:
    """Every statement the span text[start:end] (one passage) can give, in order."""
    out: list[Statement] = []
    bs = blocks(text, start, end)
    i = 0
    while i < len(bs):
        b = bs[i]
        if b.kind == "para":
            after_table = i > 0 and bs[i - 1].kind == "table"
            items = []
            j = i + 1
            while j < len(bs) and bs[j].kind == "item":
                items.append(bs[j])
                j += 1
            out += _paragraph(text, b, items, after_table)
            i = j if items and text[b.sentences[-1][0]:b.sentences[-1][1]].rstrip().endswith(":") else i + 1
        elif b.kind == "item":
            out += _paragraph(text, b, [], False)
            i += 1
        elif b.kind == "heading" and i + 1 < len(bs) and bs[i + 1].kind == "item":
            j = i + 1
            while j < len(bs) and bs[j].kind == "item":
                j += 1
            if not any(_whole(text[s:e]) for it in bs[i + 1:j] for s, e in it.sentences):
                out += _list(text, (b.start, b.end), clean(text[b.start:b.end]) + ":", bs[i + 1:j])
                i = j  # a heading over a list of phrases introduces them
            else:
                i += 1
        else:
            i += 1
    return [s for s in out if (s.listed or not _POINTS_AWAY.search(s.text)) and not _PLACEHOLDER.search(s.text)]


def _paragraph(text: str, block: _Block, items: list[_Block], after_table: bool) -> list[Statement]:
    out: list[Statement] = []
    sentences = block.sentences
    for k, (s, e) in enumerate(sentences):
        body = clean(text[s:e])
        if block.kind == "item" and body[:1].islower() and _whole_text(body[0].upper() + body[1:]):
            body = body[0].upper() + body[1:]  # a list item that is a whole clause, written in lower case
        elif not _whole_text(body) and not (k == len(sentences) - 1 and body.endswith(":") and items):
            continue
        last = k == len(sentences) - 1
        if last and body.endswith(":") and items:
            out += _list(text, (s, e), body, items)
            continue
        if _refers_back(body, text[sentences[k - 1][0]:sentences[k - 1][1]] if k else "", k == 0 and after_table):
            if k and out and out[-1].end == sentences[k - 1][1] and len(out[-1].spans) == 1:
                out[-1] = Statement([(out[-1].start, e)], f"{out[-1].text} {body}")
            continue  # a reference to something the description would not show
        out.append(Statement([(s, e)], body))
    return out


def _refers_back(body: str, previous: str, after_table: bool) -> bool:
    """The sentence needs the one before it: it opens with a pronoun, or with "The <noun>" naming something
    the previous sentence introduced (or a table just shown)."""
    if _REFERS_BACK.match(body):
        return True
    m = re.match(r"The ([a-z][a-z-]+)", body)
    if not m:
        return False
    return after_table or bool(re.search(rf"\b{re.escape(m.group(1))}\b", previous, re.I))


def _list(text: str, intro: tuple[int, int], body: str, items: list[_Block]) -> list[Statement]:
    """A sentence ending with a colon and its list items: one statement when the items are short phrases,
    otherwise one statement per item (the introducing sentence cited with each)."""
    if not re.match(r"[\"'(]?[A-Z0-9]", body) or _REFERS_BACK.match(body) or len(body.split()) < 2 \
            or any(clean(text[it.start:it.end]).endswith(":") for it in items):  # a nested list: not one statement
        return []
    parts = [_item_text(text, it) for it in items]
    parts = [p for p in parts if p]
    if not parts:
        return []
    short = all(len(p.split()) <= MAX_ITEM_WORDS and not re.search(r"[,;]|\. ", p) for p in parts)
    lead = body[:-1].rstrip()
    if short:
        joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return [Statement([(intro[0], items[-1].end)], f"{lead}: {joined}.", listed=True)]
    return [Statement([intro, (it.start, it.end)], f"{lead}: {p}.", listed=True) for it, p in zip(items, parts)
            if len(p.split()) >= 3]


def artefacts(statement: str) -> list[str]:
    """What a reader would see as a rendering error in a statement."""
    out = []
    if re.search(r"; [a-z]", statement):
        out.append("line-join artefact ('; ' before a lower-case word)")
    if "|" in statement:
        out.append("table pipe")
    return out
