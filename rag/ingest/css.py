"""Which CSS makes text invisible to a reader: the rules of `<style>` sheets and inline `style` attributes.

Hiding comes in two kinds. Some of it hides an element and everything inside it whatever the children say
(`display:none`, `visibility:hidden`, `opacity:0`, off-screen positioning, a clip or a zero-size box with
the overflow hidden); the rest is inherited and a child can undo it (white or transparent text, a font of a
pixel or two). White text on a painted, non-white background is visible and is not flagged.

Selectors are matched by their last compound (`div.note .x` hides like `.x`): an over-approximation that errs
towards flagging. Rules inside an `@media print` block are left out (they hide nothing on screen); rules
behind pseudo-classes (`:hover`) or pseudo-elements are ignored. Every scan is a single forward pass, so a
hostile sheet costs time linear in its size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HIDDEN, TRANSPARENT, OFFSCREEN, CLIPPED, WHITE, TINY = ("html-hidden", "html-transparent", "html-offscreen",
                                                        "html-clipped", "html-white-text", "html-tiny-text")
MAX_STYLE = 8192  # characters of one declaration block looked at
MAX_CLASSES = 32
_LENGTH = re.compile(r"^(-?\d*\.?\d+)\s*(px|pt|em|rem|%|vw|vh|cm|mm|in|ch|ex)?$")
_PX = {"px": 1, "pt": 4 / 3, "em": 16, "rem": 16, "%": 0.16, "vw": 12, "vh": 8, "cm": 37.8, "mm": 3.78,
       "in": 96, "ch": 8, "ex": 8, None: 1}
_WHITES = {"white", "#fff", "#ffffff", "#fefefe", "#fdfdfd", "snow", "ghostwhite", "whitesmoke"}
_RGB = re.compile(r"rgba?\(\s*([\d.]+%?)[\s,]+([\d.]+%?)[\s,]+([\d.]+%?)(?:[\s,/]+([\d.]+%?))?\s*\)")


def _px(value: str) -> float | None:
    """A CSS length in pixels (approximate for relative units); None when it is not a plain length."""
    m = _LENGTH.match(value.strip().removesuffix("!important").strip())
    return None if m is None else float(m.group(1)) * _PX[m.group(2)]


def _alpha(value: str) -> float | None:
    value = value.strip().removesuffix("!important").strip()
    try:
        return float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        return None


def _channel(v: str) -> float:
    return float(v[:-1]) * 2.55 if v.endswith("%") else float(v)


def color_kind(value: str) -> str | None:
    """'white' for white or near-white, 'clear' for fully transparent, 'other' for any other color."""
    value = value.strip().lower().removesuffix("!important").strip()
    if not value or value in ("inherit", "initial", "unset", "currentcolor"):
        return None
    if value == "transparent":
        return "clear"
    if value in _WHITES or re.fullmatch(r"#f{3,4}|#f{6}(ff)?", value):
        return "white"
    m = _RGB.match(value)
    if m:
        try:
            r, g, b = (_channel(m.group(k)) for k in (1, 2, 3))
            alpha = _alpha(m.group(4)) if m.group(4) else 1.0
        except ValueError:
            return "other"
        if alpha is not None and alpha <= 0.05:
            return "clear"
        return "white" if min(r, g, b) >= 250 else "other"
    return "other"


def declarations(block: str) -> dict[str, str]:
    """`prop: value; ...` as a dict of lower-case properties (the last one wins)."""
    out: dict[str, str] = {}
    for part in block[:MAX_STYLE].split(";"):
        prop, sep, value = part.partition(":")
        if sep:
            out[prop.strip().lower()] = value.strip().lower()
    return out


@dataclass
class Look:
    """What one element's CSS says: a hard hiding reason, and the inherited color, size and background."""

    hides: str | None = None
    color: str | None = None  # 'white' / 'clear' / 'other'
    tiny: bool | None = None
    painted: bool | None = None  # a non-white background of its own

    def merge(self, other: "Look") -> "Look":
        """`other` (more specific: inline style) on top of self."""
        return Look(self.hides or other.hides, other.color or self.color,
                    other.tiny if other.tiny is not None else self.tiny,
                    other.painted if other.painted is not None else self.painted)


def _offscreen(d: dict[str, str]) -> bool:
    if d.get("position", "").startswith(("absolute", "fixed")):
        if any((v := _px(d.get(side, ""))) is not None and v <= -500 for side in ("left", "top", "right")):
            return True
    indent = _px(d.get("text-indent", ""))
    if indent is not None and indent <= -500:
        return True
    margin = _px(d.get("margin-left", "")) if "margin-left" in d else None
    return bool((margin is not None and margin <= -2000)
                or re.search(r"translate[xy]?\(\s*-\d{4,}", d.get("transform", "")))


def _clipped(d: dict[str, str]) -> bool:
    if re.match(r"rect\(\s*0(px)?[\s,]+0(px)?[\s,]+0(px)?[\s,]+0", d.get("clip", "")):
        return True
    if re.match(r"inset\(\s*(50|100)%", d.get("clip-path", "")) or "scale(0)" in d.get("transform", ""):
        return True
    if d.get("overflow", "").startswith("hidden"):
        sizes = [_px(d[k]) for k in ("height", "width", "max-height", "max-width") if k in d]
        return any(s is not None and s <= 1 for s in sizes)
    return False


def look(d: dict[str, str]) -> Look:
    """The Look of a declaration block."""
    out = Look()
    if d.get("display", "").startswith("none") or d.get("visibility", "").startswith(("hidden", "collapse")):
        out.hides = HIDDEN
    elif (a := _alpha(d.get("opacity", "1"))) is not None and a <= 0.05:
        out.hides = TRANSPARENT
    elif _offscreen(d):
        out.hides = OFFSCREEN
    elif _clipped(d):
        out.hides = CLIPPED
    if "color" in d:
        out.color = color_kind(d["color"])
    size = _px(d["font-size"]) if "font-size" in d else None
    if size is not None:
        out.tiny = size <= 2
    elif "font-size" in d:
        out.tiny = False
    first = (d.get("background-color") or d.get("background") or "").split()[:1]
    if first and first[0] not in ("none", "initial", "unset", "inherit"):
        kind = color_kind(first[0])
        out.painted = kind == "other" if kind else None
    return out


@dataclass
class _Rule:
    tag: str | None
    classes: frozenset[str]
    id: str | None
    look: Look


@dataclass
class Sheet:
    """Rules from `<style>` blocks, indexed by a class, id or tag of their subject compound."""

    by_key: dict[str, list[_Rule]] = field(default_factory=dict)

    def add(self, selector: str, found: Look) -> None:
        compound = re.split(r"[\s>+~]+", selector.strip())[-1]
        if not compound or ":" in compound or "[" in compound:
            return
        tag = re.match(r"[a-zA-Z][\w-]*|\*", compound)
        rule = _Rule(tag.group().lower() if tag else None, frozenset(re.findall(r"\.([\w-]+)", compound)),
                     (re.findall(r"#([\w-]+)", compound) or [None])[0], found)
        key = (f"#{rule.id}" if rule.id else f".{min(rule.classes)}" if rule.classes else rule.tag or "*")
        self.by_key.setdefault(key, []).append(rule)

    def look_of(self, tag: str, classes: list[str], ident: str | None) -> Look:
        keys = [tag, "*"] + [f".{c}" for c in classes[:MAX_CLASSES]] + ([f"#{ident}"] if ident else [])
        out = Look()
        for key in keys:
            for rule in self.by_key.get(key, ()):
                if ((rule.tag in (None, "*", tag)) and rule.classes.issubset(classes)
                        and rule.id in (None, ident)):
                    out = out.merge(rule.look)
        return out


def _without_comments(css: str) -> str:
    parts, pos = [], 0
    while (start := css.find("/*", pos)) >= 0:
        parts.append(css[pos:start])
        end = css.find("*/", start + 2)
        pos = len(css) if end < 0 else end + 2
    parts.append(css[pos:])
    return "".join(parts)


def parse_sheet(css: str, sheet: Sheet | None = None) -> Sheet:
    """Add the rules of a style sheet that hide, color, size or paint text."""
    sheet = sheet or Sheet()
    css = _without_comments(css)
    headers: list[str] = []
    print_depth, pos = 0, 0
    for m in re.finditer(r"[{}]", css):
        if m.group() == "{":
            header = css[pos:m.start()].rsplit(";", 1)[-1].strip()
            headers.append(header)
            print_depth += _print_only(header)
        elif headers:
            header = headers.pop()
            print_depth -= _print_only(header)
            if not header.startswith("@") and print_depth == 0 and len(headers) < 16:
                found = look(declarations(css[pos:m.start()]))
                if found != Look():
                    for selector in header.split(",")[:64]:
                        sheet.add(selector, found)
        pos = m.end()
    return sheet


def _print_only(header: str) -> bool:
    lower = header.lower()
    return lower.startswith("@media") and "print" in lower and "screen" not in lower and "all" not in lower


def style_blocks(html: str) -> str:
    """The contents of every `<style>` element of a document, found in one forward scan."""
    lower = html.lower()
    parts, pos = [], 0
    while (start := lower.find("<style", pos)) >= 0:
        open_end = lower.find(">", start)
        if open_end < 0:
            break
        end = lower.find("</style", open_end)
        parts.append(html[open_end + 1: end if end >= 0 else len(html)])
        if end < 0:
            break
        pos = end + 7
    return "\n".join(parts)
