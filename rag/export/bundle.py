"""Exports of any workspace: proposals with every citation (CSV, XLSX, JSON), OSCAL, and the evidence bundle.

The bundle is a zip an auditor can check without ctrlmap: the system description, control matrix and
Statement of Applicability, every proposal and citation, the OSCAL component definition, the canonical text
of every cited document version, a MANIFEST.sha256 of every file and `verify.py` (standard library only),
which re-checks the manifest and every citation. Files are written beside the target and renamed into place,
so nothing half-written is left.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from importlib import resources
from pathlib import Path

from rag.context import Context
from rag.errors import InvalidInput

FORMATS = ("csv", "xlsx", "json", "oscal", "bundle")
SUFFIX = {"csv": "proposals.csv", "xlsx": "proposals.xlsx", "json": "proposals.json",
          "oscal": "component-definition.json", "bundle": "evidence-bundle.zip"}


def export(ctx: Context, workspace: str, fmt: str, out: Path) -> Path:
    """Write one export of the workspace into folder `out`; returns the file written."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out.mkdir(parents=True, exist_ok=True)
    target = out / SUFFIX[fmt]
    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as tmp:
        made = _write(ctx, workspace, fmt, Path(tmp))
        made.replace(target)
    return target


def _write(ctx: Context, workspace: str, fmt: str, folder: Path) -> Path:
    from rag.export import oscal, tables
    from rag.review import list_proposals

    proposals = list_proposals(ctx, workspace, limit=10**6)
    if fmt == "csv":
        return tables.write_csv(proposals, folder / SUFFIX[fmt])
    if fmt == "xlsx":
        return tables.write_xlsx(proposals, folder / SUFFIX[fmt])
    if fmt == "json":
        return tables.write_json(proposals, folder / SUFFIX[fmt])
    if fmt == "oscal":
        path = folder / SUFFIX[fmt]
        path.write_text(json.dumps(oscal.component_definition(ctx, workspace, _title(ctx, workspace)), indent=1,
                                   ensure_ascii=False), encoding="utf-8")
        return path
    return _bundle(ctx, workspace, proposals, folder)


def _title(ctx: Context, workspace: str) -> str:
    from rag.profile import current

    profile = current(ctx, workspace)
    return profile.organization.legal_name if profile else f"Workspace {workspace}"


def description(ctx: Context, workspace: str, folder: Path) -> tuple[list[Path], list]:
    """The description (Markdown, Word) from the workspace's stored profile; returns the files and sections."""
    from rag.export import narrative_docx, narrative_md
    from rag.profile import current
    from rag.workflows import describe_system

    desc = describe_system(ctx, workspace, current(ctx, workspace))
    md, docx = folder / "system-description.md", folder / "system-description.docx"
    md.write_text(narrative_md.render(desc.sections, desc.title, desc.period), encoding="utf-8")
    narrative_docx.write(desc.sections, desc.title, docx, desc.period)
    return [md, docx], desc.sections


def _bundle(ctx: Context, workspace: str, proposals, folder: Path) -> Path:
    from rag.export import matrix, oscal, soa, tables
    from rag.narrate import statements

    root = folder / "bundle"
    root.mkdir()
    title = _title(ctx, workspace)
    _, sections = description(ctx, workspace, root)
    matrix.write_all(ctx, workspace, root, f"{title}: control matrix")
    soa.write_all(ctx, workspace, root, f"{title}: ISO/IEC 27001:2022 Statement of Applicability")
    tables.write_json(proposals, root / "proposals.json")
    tables.write_csv(proposals, root / "proposals.csv")
    (root / "component-definition.json").write_text(
        json.dumps(oscal.component_definition(ctx, workspace, title), indent=1, ensure_ascii=False), encoding="utf-8")
    cited = [{"where": f"proposal {p.id} ({p.framework} {p.clause_id}, {p.status.value})", **_span(c)}
             for p in proposals for c in p.citations]
    cited += [{"where": f"description: {st.text[:50]}", **_span(c)} for st in statements(sections)
              for c in st.citations]
    (root / "citations.json").write_text(json.dumps(cited, indent=1, ensure_ascii=False), encoding="utf-8")
    tables.write_texts(ctx, {c["document_sha256"] for c in cited}, root / "texts")
    shutil.copyfile(str(resources.files("rag.export").joinpath("bundle_verify.py")), root / "verify.py")
    _manifest(root)
    path = folder / SUFFIX["bundle"]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(root).as_posix())
    return path


def _span(c) -> dict:
    return {"document_sha256": c.document_sha256, "start": c.start, "end": c.end, "quote": c.quote}


def _manifest(root: Path) -> None:
    lines = [f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.relative_to(root).as_posix()}"
             for f in sorted(root.rglob("*")) if f.is_file()]
    (root / "MANIFEST.sha256").write_text("\n".join(lines) + "\n", encoding="utf-8")
