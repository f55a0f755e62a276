"""Reading stored documents and versions (the API and CLI list them; the UI shows a cited quote in context).
Which version is current, and the texts, come from `rag.corpus`."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from rag import corpus
from rag.context import Context
from rag.corpus import current_version_row, current_versions, load_passages
from rag.errors import NotFound
from rag.store import DocumentRow, PassageRow, SectionRow

texts_by_sha = corpus.texts_by_sha  # the faces read stored texts through this module too
version_text = corpus.version_text


def list_documents(ctx: Context, workspace: str) -> list[dict]:
    with ctx.store.session() as s:
        docs = s.scalars(select(DocumentRow).options(selectinload(DocumentRow.versions))  # one query, no texts
                         .where(DocumentRow.workspace == workspace).order_by(DocumentRow.name))
        counts = dict(s.execute(select(PassageRow.document_id, func.count(PassageRow.id))
                                .where(PassageRow.workspace == workspace, PassageRow.current.is_(True),
                                       PassageRow.hidden.is_(False))
                                .group_by(PassageRow.document_id)).all())
        current = current_versions(s, workspace)
        out = []
        for d in docs:
            latest = next((v for v in d.versions if d.id in current and v.id == current[d.id].version_id),
                          d.versions[-1])
            out.append({"id": d.id, "name": d.name, "title": d.title, "versions": len(d.versions),
                        "sha256": latest.sha256[:12], "media_type": latest.media_type.split("/")[-1][:20],
                        "pages": latest.pages, "passages": counts.get(d.id, 0), "updated": latest.created_at,
                        "warnings": list(latest.warnings or [])})
        return out


def versions(ctx: Context, workspace: str, document_id: int) -> list[dict]:
    with ctx.store.session() as s:
        doc = s.scalar(select(DocumentRow).where(DocumentRow.id == document_id, DocumentRow.workspace == workspace))
        if doc is None:
            raise NotFound(f"no document {document_id} in workspace {workspace}")
        current = current_versions(s, workspace, {document_id}).get(document_id)
        return [{"number": v.number, "current": bool(current and current.version_id == v.id), "sha256": v.sha256,
                 "media_type": v.media_type, "bytes": v.byte_size, "parser": v.parser, "pages": v.pages, "hidden_spans": len(v.hidden or []),
                 "created_at": v.created_at} for v in doc.versions]


def sections(ctx: Context, workspace: str, document_id: int) -> dict:
    """The current version of a document as a reader sees it: its sections (heading path, level, text) in order,
    with the version's warnings (e.g. unrendered template placeholders)."""
    with ctx.store.session() as s:
        doc = s.scalar(select(DocumentRow).where(DocumentRow.id == document_id, DocumentRow.workspace == workspace))
        if doc is None:
            raise NotFound(f"no document {document_id} in workspace {workspace}")
        latest = current_version_row(s, workspace, doc.id)
        rows = s.scalars(select(SectionRow).where(SectionRow.version_id == latest.id).order_by(SectionRow.start))
        parts = [{"n": i, "heading": " › ".join(r.heading_path) or doc.title,
                  "title": (r.heading_path or [doc.title])[-1], "level": r.level, "page": r.page, "text": latest.text[r.start:r.end]} for i, r in enumerate(rows, 1)]
        return {"id": doc.id, "name": doc.name, "title": doc.title, "version": latest.number, "sha256": latest.sha256,
                "media_type": latest.media_type, "warnings": list(latest.warnings or []),
                "sections": parts or [{"n": 1, "heading": doc.title, "title": doc.title, "level": 1, "page": None,
                                       "text": latest.text}]}


def set_title(ctx: Context, workspace: str, document_id: int, title: str) -> bool:
    """Rename a document's display title; its passages are re-indexed (the title is part of what they are
    indexed under). Returns True when the title changed."""
    title = " ".join(title.split())[:512]
    with ctx.store.session(write=True) as s:
        doc = s.scalar(select(DocumentRow).where(DocumentRow.id == document_id, DocumentRow.workspace == workspace))
        if doc is None:
            raise NotFound(f"no document {document_id} in workspace {workspace}")
        if not title or doc.title == title:
            return False
        doc.title = title
    corpus = load_passages(ctx, workspace, include_hidden=True)
    items = [(p, corpus.indexed_text(i)) for i, p in enumerate(corpus.passages) if p.document_id == document_id]
    ctx.index.add(workspace, items)
    return True
