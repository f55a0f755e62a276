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


def _jsonl(path: Path, required: tuple[str, ...] = ()) -> list[dict]:
    """Rows of a JSON Lines file; a broken line or a row without a required field is named, not skipped."""
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path.parent.name}/{path.name} line {number} is not valid JSON "
                               f"({exc.msg})") from None
        missing = [k for k in required if not isinstance(row, dict) or k not in row]
        if missing:
            raise InvalidInput(f"{path.parent.name}/{path.name} line {number} lacks {', '.join(missing)} "
                               "(see FORMAT.md)")
        rows.append(row)
    return rows


def load(root: Path) -> Dataset:
    root = Path(root)
    if not (root / "labels.jsonl").exists():
        raise InvalidInput(f"{root} is not a labeled dataset: labels.jsonl is missing (see FORMAT.md)")
    docs_dir = root / "docs_redacted" if (root / "docs_redacted").is_dir() else root / "docs"
    doc_ids = sorted(p.stem for p in docs_dir.glob("*.md"))
    if not doc_ids:
        raise InvalidInput(f"{docs_dir} holds no documents")
    titles = {m["doc_id"]: m.get("title") or m["doc_id"] for m in _jsonl(root / "docs_meta.jsonl", ("doc_id",))}
    labels: dict[str, dict[str, set[str]]] = {}
    known = set(doc_ids)
    for row in _jsonl(root / "labels.jsonl", ("doc_id", "framework", "control_id")):
        if row["doc_id"] in known:
            labels.setdefault(row["framework"], {}).setdefault(str(row["control_id"]), set()).add(row["doc_id"])
    return Dataset(name=root.name, root=root, docs_dir=docs_dir, doc_ids=doc_ids, titles=titles, labels=labels)
