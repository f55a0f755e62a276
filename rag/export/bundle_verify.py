"""Verify a ctrlmap evidence bundle without ctrlmap (Python 3 standard library only).

Run it from the unzipped bundle: `python3 verify.py`. It checks that every file listed in MANIFEST.sha256 is
present and unaltered, then that every citation in citations.json is exact: the quote must equal
texts/<document_sha256>.txt[start:end], offsets counted in Unicode code points of the UTF-8 text.
Exit code 0 when everything verifies, 1 otherwise (each failure is printed).
"""

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def check_manifest(failures):
    names = 0
    for line in (HERE / "MANIFEST.sha256").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        digest, name = line.split("  ", 1)
        path = HERE / name
        names += 1
        if not path.is_file():
            failures.append("missing file: " + name)
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            failures.append("file differs from the manifest: " + name)
    return names


def check_citations(failures):
    citations = json.loads((HERE / "citations.json").read_text(encoding="utf-8"))
    texts = {}
    good = 0
    for c in citations:
        sha = c["document_sha256"]
        if sha not in texts:
            path = HERE / "texts" / (sha + ".txt")
            texts[sha] = path.read_bytes().decode("utf-8") if path.is_file() else None
        text = texts[sha]
        if text is not None and 0 <= c["start"] < c["end"] <= len(text) and text[c["start"]:c["end"]] == c["quote"]:
            good += 1
        else:
            failures.append("citation does not verify: %s (%s..., characters %d-%d)"
                            % (c.get("where", ""), sha[:12], c["start"], c["end"]))
    return good, len(citations)


def main():
    failures = []
    files = check_manifest(failures)
    good, total = check_citations(failures)
    print("%d files checked against MANIFEST.sha256; %d of %d citations verify" % (files, good, total))
    for line in failures[:50]:
        print("FAIL " + line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
