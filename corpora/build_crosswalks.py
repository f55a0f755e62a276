"""Rebuild `corpora/crosswalks/*.csv` from the reference crosswalks (pairs are facts; no prose is copied).

    python -m corpora.build_crosswalks ../shared/reference/crosswalks

Known errors in the sources (see the reference SOURCES.md) are corrected here, each with a note in `origin`.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

OUT = Path(__file__).parent / "crosswalks"
FIELDS = ["source_framework", "source_id", "target_framework", "target_id", "relation", "origin"]

# AI RMF -> 42001: rows whose printed title contradicts the id (SOURCES.md "anomalies").
AIRMF_FIXES = {
    ("MAP 1.4", "A.2.2"): ("A.10.4", "fixed: printed title 'Customers' is A.10.4, id said A.2.2"),
    ("GOVERN 3.2", "A.3.2"): ("A.3.2", "kept A.3.2 (roles); printed title 'Management review inputs' disagrees"),
    ("MAP 1.5", "6.1.1"): ("6.1.1", "kept 6.1.1; printed title 'Objective' disagrees"),
}


def _rows(path: Path):
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def airmf_to_42001(src: Path) -> list[dict]:
    out = []
    for r in _rows(src / "nist-ai-rmf-1.0_to_iso42001-2023__nist-airc.jsonl"):
        target = r.get("target_id_annex_a") or r["target_id"]
        target, note = AIRMF_FIXES.get((r["source_id"], target), (target, ""))
        origin = "NIST AIRC crosswalk AI RMF to ISO/IEC 42001 (FDIS numbering normalized)"
        out.append(dict(source_framework="nist-ai-rmf-1.0", source_id=r["source_id"],
                        target_framework="iso42001-2023", target_id=target, relation="related",
                        origin=f"{origin}; {note}" if note else origin))
    return out


def soc2_to_27001(src: Path) -> list[dict]:
    return [dict(source_framework="soc2-tsc-2017", source_id=r["source_id"], target_framework="iso27001-2022",
                 target_id=r["target_id"], relation="intersect",
                 origin="CISO Assistant mapping rolled up to criteria (built via Adobe CCF pivot; not AICPA's)")
            for r in _rows(src / "soc2-tsc-2017_to_iso27001-2022__ciso-assistant__criterion-level.jsonl")]


def iso2013_to_2022(src: Path) -> list[dict]:
    out = []
    for r in _rows(src / "iso27001-2013_to_iso27001-2022__corrected.jsonl"):
        origin = "ISO 27002:2022 Annex B correspondence via CISO Assistant, corrected"
        out.append(dict(source_framework="iso27001-2013", source_id=r["source_id"],
                        target_framework="iso27001-2022", target_id=r["target_id"],
                        relation=r.get("relation", "related"),
                        origin=origin + ("; row added or fixed in correction" if r.get("note") else "")))
    return out


def _dedupe(rows: list[dict]) -> list[dict]:
    seen, out = set(), []
    for r in rows:
        key = (r["source_id"], r["target_id"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def main(src: str) -> None:
    src_dir = Path(src)
    OUT.mkdir(exist_ok=True)
    for name, rows in [("nist-ai-rmf-1.0__iso42001-2023", airmf_to_42001(src_dir)),
                       ("soc2-tsc-2017__iso27001-2022", soc2_to_27001(src_dir)),
                       ("iso27001-2013__iso27001-2022", iso2013_to_2022(src_dir))]:
        rows = _dedupe(rows)
        with (OUT / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        print(f"{name}: {len(rows)} pairs")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/crosswalks")
