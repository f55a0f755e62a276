"""Framework catalogs and crosswalks, read from the `corpora` package data (so a wheel install works).

`Catalog.load()` validates ids, parents and the counts each framework must have; `overlay()` loads a
user's licensed text (OSCAL catalog JSON, CSV `id,title,text`, or a JSON list of `{id,title,text}`) over the
bundled descriptions.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

import yaml

from rag.errors import CatalogError
from rag.models import Clause, CrosswalkLink, Framework, sha256_hex

# Counts every bundled framework must have, by kind (the acceptance numbers).
EXPECTED_COUNTS: dict[str, dict[str, int]] = {
    "soc2-tsc-2017": {"criterion": 61},
    "iso27001-2022": {"control": 93, "clause": 7, "subclause": 34},
    "iso42001-2023": {"control": 38, "clause": 7, "subclause": 36},
    "nist-ai-rmf-1.0": {"function": 4, "category": 19, "subcategory": 72},
    "iso27001-2013": {"control": 114},
}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PRIMARY = ["soc2-tsc-2017", "iso27001-2022", "iso42001-2023", "nist-ai-rmf-1.0"]
# Short names people type, accepted wherever a framework key is (case-insensitive).
ALIASES = {"soc2": "soc2-tsc-2017", "soc-2": "soc2-tsc-2017", "tsc": "soc2-tsc-2017",
           "iso27001": "iso27001-2022", "iso-27001": "iso27001-2022", "27001": "iso27001-2022",
           "iso42001": "iso42001-2023", "iso-42001": "iso42001-2023", "42001": "iso42001-2023",
           "ai-rmf": "nist-ai-rmf-1.0", "nist-ai-rmf": "nist-ai-rmf-1.0", "airmf": "nist-ai-rmf-1.0",
           "iso27001-2013": "iso27001-2013"}


def _corpora():
    return resources.files("corpora")


def parse_framework(data: dict, source: str = "bundled") -> Framework:
    try:
        clauses_raw = data.pop("clauses")
        fw = Framework(source=source, **{k: v for k, v in data.items() if k in Framework.model_fields})
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"malformed framework header: {exc}", file=source) from exc
    seen: set[str] = set()
    clauses = []
    for raw in clauses_raw:
        raw = {k: v for k, v in raw.items() if v is not None}
        raw["id"] = str(raw.get("id", ""))
        if "parent" in raw:
            raw["parent"] = str(raw["parent"])
        cid = raw["id"]
        if not cid or cid in seen:
            raise CatalogError(f"duplicate or empty clause id {cid!r}", file=source)
        if raw.get("parent") and raw["parent"] not in seen:
            raise CatalogError(f"clause {cid} names parent {raw['parent']!r} not defined before it", file=source)
        seen.add(cid)
        try:
            clauses.append(Clause(framework=fw.key, **raw))
        except ValueError as exc:
            raise CatalogError(f"clause {cid}: {exc}", file=source) from exc
    parents = {c.parent for c in clauses if c.parent}
    for c in clauses:
        c.assessable = c.kind in fw.assessable_kinds and c.id not in parents
    fw.clauses = clauses
    return fw


def check_counts(fw: Framework) -> None:
    counts = fw.counts_by_kind()
    for kind, n in EXPECTED_COUNTS.get(fw.key, {}).items():
        if counts.get(kind, 0) != n:
            raise CatalogError(f"{fw.key} has {counts.get(kind, 0)} clauses of kind {kind}, expected {n}",
                               file=fw.source)


@dataclass
class Catalog:
    frameworks: dict[str, Framework]
    links: list[CrosswalkLink] = field(default_factory=list)
    version: str = ""

    @classmethod
    def load(cls, overlays: list[Path] | None = None) -> "Catalog":
        fw_dir = _corpora() / "frameworks"
        frameworks, digest = {}, []
        for entry in sorted(fw_dir.iterdir(), key=lambda p: p.name):
            if not entry.name.endswith(".yaml"):
                continue
            text = entry.read_text(encoding="utf-8")
            digest.append(text)
            fw = parse_framework(yaml.load(text, Loader=_LOADER), source=f"corpora/frameworks/{entry.name}")
            check_counts(fw)
            frameworks[fw.key] = fw
        links = []
        for entry in sorted((_corpora() / "crosswalks").iterdir(), key=lambda p: p.name):
            if entry.name.endswith(".csv"):
                text = entry.read_text(encoding="utf-8")
                digest.append(text)
                links += [CrosswalkLink(**row) for row in csv.DictReader(io.StringIO(text))]
        catalog = cls(frameworks, links, sha256_hex("\n".join(digest))[:12])
        catalog.check_links()
        for path in overlays or []:
            catalog.overlay(path)
        return catalog

    # --- lookups --------------------------------------------------------------------------------------

    def framework(self, key: str) -> Framework:
        return self.frameworks[self.key(key)]

    def key(self, name: str) -> str:
        """The framework key for a key or an alias (`soc2`, `iso27001`, `iso42001`, `ai-rmf`)."""
        if name in self.frameworks:
            return name
        folded = (name or "").strip().lower()
        key = ALIASES.get(folded, folded)
        if key not in self.frameworks:
            raise CatalogError(f"unknown framework {name!r}; known: {', '.join(self.frameworks)} "
                               f"(or soc2, iso27001, iso42001, ai-rmf)")
        return key

    def known(self, name: str) -> bool:
        try:
            return bool(self.key(name))
        except CatalogError:
            return False

    def keys(self, names: list[str] | None) -> list[str] | None:
        return None if names is None else [self.key(n) for n in names]

    def clause(self, framework: str, clause_id: str) -> Clause:
        clause = self._index.get((framework, clause_id)) or self._index.get((self.key(framework), clause_id))
        if clause is None:
            raise CatalogError(f"{framework} has no clause {clause_id!r}")
        return clause

    def find(self, framework: str, clause_id: str) -> Clause | None:
        return self._index.get((framework, clause_id))

    @cached_property
    def _index(self) -> dict[tuple[str, str], Clause]:
        return {(fw.key, c.id): c for fw in self.frameworks.values() for c in fw.clauses}

    def primary(self) -> list[str]:
        return [k for k in PRIMARY if k in self.frameworks]

    def children(self, framework: str, clause_id: str) -> list[Clause]:
        return [c for c in self.framework(framework).clauses if c.parent == clause_id]

    def descendants(self, framework: str, clause_id: str) -> list[Clause]:
        out, stack = [], [clause_id]
        while stack:
            kids = self.children(framework, stack.pop())
            out += kids
            stack += [k.id for k in kids]
        return out

    # --- crosswalks -----------------------------------------------------------------------------------

    def check_links(self) -> None:
        for link in self.links:
            for fw, cid in ((link.source_framework, link.source_id), (link.target_framework, link.target_id)):
                if fw in self.frameworks and (fw, cid) not in self._index:
                    raise CatalogError(f"crosswalk names {fw} {cid!r}, which is not in the catalog")

    def related(self, framework: str, clause_id: str) -> list[Clause]:
        """Clauses linked to this one by a crosswalk, in either direction (current frameworks only)."""
        out: dict[tuple[str, str], Clause] = {}
        for other in self._linked.get((framework, clause_id), ()):
            clause = self._index.get(other)
            if clause and not self.frameworks[clause.framework].superseded_by:
                out[other] = clause
        return list(out.values())

    @cached_property
    def _linked(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """Each clause's crosswalk partners in link order, both directions, built once per catalog."""
        out: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for link in self.links:
            source, target = (link.source_framework, link.source_id), (link.target_framework, link.target_id)
            out.setdefault(source, []).append(target)
            out.setdefault(target, []).append(source)
        return out

    def translate(self, framework: str, clause_id: str) -> list[Clause]:
        """Understand an id of a superseded framework (e.g. ISO 27001:2013 `A.9`, `A.12.1.2`, `A.16`)
        as the current clauses it maps to, through the crosswalk and the old catalog's hierarchy."""
        fw = self.framework(framework)
        if not fw.superseded_by:
            return [self.clause(framework, clause_id)]
        ids = {clause_id} | {c.id for c in self.descendants(framework, clause_id)}
        out: dict[str, Clause] = {}
        for link in self.links:
            if link.source_framework == framework and link.source_id in ids:
                target = self._index.get((link.target_framework, link.target_id))
                if target:
                    out[target.key] = target
        return list(out.values())

    # --- overlays -------------------------------------------------------------------------------------

    def overlay(self, path: Path) -> str:
        """Load official text a user holds a licence for over the bundled descriptions. Returns the key of
        the framework it applied to (chosen by id overlap)."""
        items = read_overlay(path)
        best = max(self.frameworks.values(),
                   key=lambda fw: (sum(1 for i in items if fw.clause(i["id"])), not fw.superseded_by))
        matched = [i for i in items if best.clause(i["id"])]
        if not matched:
            raise CatalogError("no id in this catalog matches a bundled framework", file=str(path))
        focus: dict[str, list[str]] = {}
        for item in items:
            clause = best.clause(item["id"])
            if clause is None and item.get("parent") and best.clause(item["parent"]):
                focus.setdefault(item["parent"], []).append(item.get("text") or item.get("title", ""))
            elif clause is not None and item.get("text"):
                clause.description = item["text"]
                clause.text_origin = f"user catalog {path.name}"
        for cid, texts in focus.items():
            best.clause(cid).focus = [t for t in texts if t]
        self.version = sha256_hex(self.version + path.read_bytes().hex())[:12]
        return best.key


def read_overlay(path: Path) -> list[dict]:
    """Items `{id, title, text, parent?}` from an OSCAL catalog, a CSV or a JSON list."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read catalog: {exc}", file=str(path)) from exc
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(raw)))
        if not rows or not {"id", "text"} <= set(rows[0]):
            raise CatalogError("a CSV catalog needs the columns id,title,text", file=str(path))
        return [{"id": r["id"].strip(), "title": r.get("title", ""), "text": r["text"]} for r in rows]
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise CatalogError(f"not valid JSON: {exc}", file=str(path)) from exc
    if isinstance(data, dict) and "catalog" in data:
        return list(_oscal_items(data["catalog"]))
    if isinstance(data, list) and all(isinstance(i, dict) and "id" in i for i in data):
        return [{"id": str(i["id"]), "title": i.get("title", ""), "text": i.get("text", ""),
                 "parent": i.get("parent")} for i in data]
    raise CatalogError("unrecognized catalog: expected OSCAL JSON, CSV id,title,text, or a JSON list",
                       file=str(path))


def _oscal_items(node: dict, parent: str | None = None):
    for group in node.get("groups", []):
        yield from _oscal_items(group, parent)
    for control in node.get("controls", []):
        label = next((p["value"] for p in control.get("props", []) if p.get("name") == "label"), None)
        cid = label or control["id"]
        params = {p["id"]: (p.get("label") or "[parameter]") for p in control.get("params", [])}
        text = " ".join(_prose(part, params) for part in control.get("parts", []) if part.get("name") == "statement")
        yield {"id": cid, "title": control.get("title", ""), "text": text.strip(), "parent": parent}
        yield from _oscal_items(control, cid)


def _prose(part: dict, params: dict[str, str]) -> str:
    import re

    text = part.get("prose", "")
    text = re.sub(r"\{\{\s*insert:\s*param,\s*([\w.-]+)\s*\}\}", lambda m: params.get(m.group(1), "[parameter]"), text)
    return " ".join([text] + [_prose(p, params) for p in part.get("parts", [])]).strip()
