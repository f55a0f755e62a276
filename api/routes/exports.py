"""Downloads of a workspace: every citation (CSV, XLSX, JSON), the OSCAL component definition, the evidence
bundle, and the Word description, control matrix and Statement of Applicability."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import ContextDep, ViewerIn
from rag.context import Context
from rag.errors import InvalidInput

router = APIRouter(prefix="/api/workspaces/{workspace}/exports", tags=["exports"])

DOCUMENTS = ("description", "matrix", "soa")
MEDIA = {".csv": "text/csv", ".json": "application/json", ".zip": "application/zip",
         ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


def _document(ctx: Context, workspace: str, kind: str, folder: Path) -> Path:
    from rag.export import bundle, matrix, soa

    name = bundle._title(ctx, workspace)
    if kind == "description":
        return bundle.description(ctx, workspace, folder)[0][1]
    if kind == "matrix":
        return matrix.write_all(ctx, workspace, folder, f"{name}: control matrix")[2]
    return soa.write_all(ctx, workspace, folder, f"{name}: Statement of Applicability")[2]


@router.get("/{fmt}")
def download(fmt: str, access: ViewerIn, ctx: ContextDep) -> Response:
    """One export as a download: csv, xlsx, json, oscal, bundle (zip an auditor verifies with its own
    verify.py), description (Word), matrix (XLSX) or soa (XLSX). Role: viewer."""
    from rag.export.bundle import FORMATS, export

    if fmt not in FORMATS + DOCUMENTS:
        raise InvalidInput(f"unknown export {fmt!r}; choose one of {', '.join(FORMATS + DOCUMENTS)}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = _document(ctx, access.workspace, fmt, folder) if fmt in DOCUMENTS else \
            export(ctx, access.workspace, fmt, folder)
        content = path.read_bytes()
    filename = f"{access.workspace}-{path.name}"
    return Response(content, media_type=MEDIA.get(path.suffix, "application/octet-stream"),
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
