"""Labeled datasets in the layout of `../shared/evals/FORMAT.md` (any dataset in that format loads unchanged)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import InvalidInput


@dataclass
class Dataset:
    name: str
    root: Path
    docs_dir: Path
    doc_ids: list[str]
    titles: dict[str, str]
    labels: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # framework -> control -> doc ids

    def frameworks(self) -> list[str]:
        return sorted(self.labels)

    def doc_path(self, doc_id: str) -> Path:
        return self.docs_dir / f"{doc_id}.md"


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load(root: Path) -> Dataset:
    root = Path(root)
    if not (root / "labels.jsonl").exists():
        raise InvalidInput(f"{root} is not a labeled dataset: labels.jsonl is missing (see FORMAT.md)")
    docs_dir = root / "docs_redacted" if (root / "docs_redacted").is_dir() else root / "docs"
    doc_ids = sorted(p.stem for p in docs_dir.glob("*.md"))
    if not doc_ids:
        raise InvalidInput(f"{docs_dir} holds no documents")
    titles = {m["doc_id"]: m.get("title") or m["doc_id"] for m in _jsonl(root / "docs_meta.jsonl")}
    labels: dict[str, dict[str, set[str]]] = {}
    known = set(doc_ids)
    for row in _jsonl(root / "labels.jsonl"):
        if row["doc_id"] in known:
            labels.setdefault(row["framework"], {}).setdefault(str(row["control_id"]), set()).add(row["doc_id"])
    return Dataset(name=root.name, root=root, docs_dir=docs_dir, doc_ids=doc_ids, titles=titles, labels=labels)
