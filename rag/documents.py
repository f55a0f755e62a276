"""Reading stored documents and versions (the API and CLI list them; the UI shows a cited quote in context)."""

from __future__ import annotations

from sqlalchemy import func, select

from rag.context import Context
from rag.errors import NotFound
from rag.store import DocumentRow, PassageRow, SectionRow, VersionRow


def list_documents(ctx: Context, workspace: str) -> list[dict]:
    with ctx.store.session() as s:
        docs = s.scalars(select(DocumentRow).where(DocumentRow.workspace == workspace).order_by(DocumentRow.name))
        counts = dict(s.execute(select(PassageRow.document_id, func.count(PassageRow.id))
                                .where(PassageRow.workspace == workspace, PassageRow.current.is_(True),
                                       PassageRow.hidden.is_(False))
                                .group_by(PassageRow.document_id)).all())
        out = []
        for d in docs:
            latest = d.versions[-1]
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
        return [{"number": v.number, "sha256": v.sha256, "media_type": v.media_type, "bytes": v.byte_size,
                 "parser": v.parser, "pages": v.pages, "hidden_spans": len(v.hidden or []),
                 "created_at": v.created_at} for v in doc.versions]


def sections(ctx: Context, workspace: str, document_id: int) -> dict:
    """The current version of a document as a reader sees it: its sections (heading path, level, text) in order,
    with the version's warnings (e.g. unrendered template placeholders)."""
    with ctx.store.session() as s:
        doc = s.scalar(select(DocumentRow).where(DocumentRow.id == document_id, DocumentRow.workspace == workspace))
        if doc is None:
            raise NotFound(f"no document {document_id} in workspace {workspace}")
        latest = doc.versions[-1]
        rows = s.scalars(select(SectionRow).where(SectionRow.version_id == latest.id).order_by(SectionRow.start))
        parts = [{"n": i, "heading": " › ".join(r.heading_path) or doc.title, "title": (r.heading_path or [doc.title])[-1],
                  "level": r.level, "page": r.page, "text": latest.text[r.start:r.end]} for i, r in enumerate(rows, 1)]
        return {"id": doc.id, "name": doc.name, "title": doc.title, "version": latest.number, "sha256": latest.sha256,
                "media_type": latest.media_type, "warnings": list(latest.warnings or []),
                "sections": parts or [{"n": 1, "heading": doc.title, "title": doc.title, "level": 1, "page": None,
                                       "text": latest.text}]}


def texts_by_sha(ctx: Context, shas: set[str] | None = None) -> dict[str, str]:
    """Canonical text of each document version, by sha256 (all versions when `shas` is None)."""
    if shas is not None and not shas:
        return {}
    q = select(VersionRow.sha256, VersionRow.text)
    if shas is not None:
        q = q.where(VersionRow.sha256.in_(shas))
    with ctx.store.session() as s:
        return dict(s.execute(q).all())


def version_text(ctx: Context, workspace: str, sha256: str) -> str:
    """Canonical text of a version, only if it belongs to the workspace."""
    with ctx.store.session() as s:
        text = s.scalar(select(VersionRow.text).join(DocumentRow).where(
            VersionRow.sha256 == sha256, DocumentRow.workspace == workspace).limit(1))
    if text is None:
        raise NotFound(f"no document version {sha256[:12]} in workspace {workspace}")
    return text


def set_title(ctx: Context, workspace: str, document_id: int, title: str) -> bool:
    """Rename a document's display title; its passages are re-indexed (the title is part of what they are
    indexed under). Returns True when the title changed."""
    from rag.retrieve import load_passages

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
