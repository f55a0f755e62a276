"""Documents: upload (through the ingestion pipeline; a new version runs drift), list, versions, the text
around a citation, and search over the workspace's own passages."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.deps import UPLOAD_BODY, AdminIn, ContextDep, Upload, ViewerIn, read_upload
from api.schemas import DriftPublic, DocumentPublic, SearchHitPublic, TextWindowPublic, UploadPublic, VersionPublic
from rag import documents, workflows
from rag.corpus import load_passages
from rag.errors import InvalidInput
from rag.ingest.parse import parse_ahead

router = APIRouter(prefix="/api/workspaces/{workspace}", tags=["documents"])
SNAP = 40  # how far a context window may move to start or end at a word boundary


@router.get("/documents", response_model=list[DocumentPublic])
def list_documents(access: ViewerIn, ctx: ContextDep) -> list[dict]:
    """The workspace's documents with their current version. Role: viewer."""
    return documents.list_documents(ctx, access.workspace)


@router.post("/documents", response_model=UploadPublic, status_code=201, openapi_extra=UPLOAD_BODY,
             responses={400: {"description": "bad file name"}, 413: {"description": "too large"},
                        415: {"description": "unsupported type"}, 422: {"description": "cannot be ingested"}})
def upload_document(access: AdminIn, ctx: ContextDep, response: Response,
                    upload: Annotated[Upload, Depends(read_upload)]) -> UploadPublic:
    """Ingest a file (multipart field `file`, optional `name`) as a new document or a new version of one; a
    new version sends mappings whose quotes disappeared back to review. Role: admin."""
    parse_ahead(upload.data, upload.name or upload.filename, ctx.settings)  # holds no lock other uploads need
    result = workflows.ingest_upload(ctx, access.workspace, upload.name or upload.filename, upload.data,
                                     access.actor)
    if result.status == "unchanged":
        response.status_code = 200
    return UploadPublic(**{**result.as_dict(), "drift": DriftPublic(**result.drift.__dict__) if result.drift else None})


@router.get("/documents/{document_id}/versions", response_model=list[VersionPublic])
def list_versions(document_id: int, access: ViewerIn, ctx: ContextDep) -> list[dict]:
    """Every stored version of a document, oldest first. Role: viewer."""
    return documents.versions(ctx, access.workspace, document_id)


@router.get("/versions/{sha256}/text", response_model=TextWindowPublic)
def version_text(sha256: str, access: ViewerIn, ctx: ContextDep,
                 start: Annotated[int, Query(ge=0)] = 0, end: Annotated[int | None, Query(ge=0)] = None,
                 window: Annotated[int, Query(ge=0, le=200_000)] = 600) -> TextWindowPublic:
    """A span of a version's canonical text with `window` characters either side (the UI highlights a
    cited quote in its context). Role: viewer."""
    return text_window(sha256, documents.version_text(ctx, access.workspace, sha256), start, end, window)


def text_window(sha256: str, text: str, start: int, end: int | None, window: int) -> TextWindowPublic:
    end = start if end is None else end
    if not 0 <= start <= end <= len(text):
        raise InvalidInput(f"span {start}-{end} is outside the text (length {len(text)})")
    lo, hi = max(0, start - window), min(len(text), end + window)
    if lo > 0:
        gap = re.search(r"\s", text[lo:min(start, lo + SNAP)])
        lo = lo + gap.end() if gap else lo
    if hi < len(text):
        cut = max(text.rfind(" ", max(end, hi - SNAP), hi), text.rfind("\n", max(end, hi - SNAP), hi))
        hi = cut if cut > end else hi
    return TextWindowPublic(sha256=sha256, length=len(text), start=start, end=end, before=text[lo:start],
                            quote=text[start:end], after=text[end:hi])


@router.get("/search", response_model=list[SearchHitPublic])
def search(access: ViewerIn, ctx: ContextDep, q: Annotated[str, Query(min_length=2, max_length=400)],
           limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[SearchHitPublic]:
    """Passages of the workspace's current documents that contain the query's words, best first (hidden
    text is never searched). Role: viewer."""
    corpus = load_passages(ctx, access.workspace)
    terms = [t for t in re.findall(r"\w+", q.lower()) if len(t) > 1]
    phrase = " ".join(q.lower().split())
    hits = []
    for p in corpus.passages:
        low = p.text.lower()
        score = sum(low.count(t) for t in terms) + (5.0 if phrase in " ".join(low.split()) else 0.0)
        if score:
            hits.append(SearchHitPublic(document_id=p.document_id, document_name=corpus.names[p.document_id],
                                        sha256=p.document_sha256, heading=p.heading, start=p.start, end=p.end,
                                        text=p.text[:600], score=float(score)))
    return sorted(hits, key=lambda h: -h.score)[:limit]
