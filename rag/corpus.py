"""The owner of a workspace's documents: which version of each document is current, its passages, their
texts and their vectors.

"Current" has one definition, here: the version whose passages carry the `current` flag (ingest sets it on
the version it stores or restores and clears it on every other version of the document, in the same
transaction). Review, drift, documents, coverage and retrieval all ask this module; nobody else writes that
query. Passages are loaded without their version's text, and each current version's text is read once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rag.errors import NotFound
from rag.index import passage_document
from rag.models import Passage
from rag.store import DocumentRow, PassageRow, VersionRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CurrentVersion:
    document_id: int
    version_id: int
    number: int
    sha256: str


@dataclass
class Corpus:
    """The current, visible passages of a workspace, with what scoring and citing need."""

    passages: list[Passage]
    titles: dict[int, str] = field(default_factory=dict)  # document id -> title
    names: dict[int, str] = field(default_factory=dict)  # document id -> name
    texts: dict[str, str] = field(default_factory=dict)  # version sha256 -> canonical text

    def indexed_text(self, i: int) -> str:
        p = self.passages[i]
        return passage_document(p, self.titles.get(p.document_id, ""))

    @property
    def document_ids(self) -> np.ndarray:
        return np.array([p.document_id for p in self.passages], dtype=np.int64)


# --- which version is current ----------------------------------------------------------------------------


def current_versions(s: Session, workspace: str, document_ids: set[int] | None = None
                     ) -> dict[int, CurrentVersion]:
    """The current version of each document of the workspace (or of the given documents)."""
    q = (select(PassageRow.document_id, VersionRow.id, VersionRow.number, VersionRow.sha256)
         .join(VersionRow, PassageRow.version_id == VersionRow.id)
         .where(PassageRow.workspace == workspace, PassageRow.current.is_(True)).distinct())
    if document_ids is not None:
        if not document_ids:
            return {}
        q = q.where(PassageRow.document_id.in_(document_ids))
    return {doc: CurrentVersion(doc, vid, number, sha) for doc, vid, number, sha in s.execute(q)}


def current_shas(ctx, workspace: str) -> dict[int, str]:
    """Each document's current version sha256, by document id."""
    with ctx.store.session() as s:
        return {doc: cur.sha256 for doc, cur in current_versions(s, workspace).items()}


def current_version_row(s: Session, workspace: str, document_id: int) -> VersionRow:
    current = current_versions(s, workspace, {document_id}).get(document_id)
    if current is None:
        raise NotFound(f"document {document_id} has no current version in workspace {workspace}")
    return s.get(VersionRow, current.version_id)


def passages_of(s: Session, version: VersionRow, visible_only: bool = True) -> list[Passage]:
    """A version's passages as domain objects, in reading order."""
    q = select(PassageRow).where(PassageRow.version_id == version.id).order_by(PassageRow.seq)
    if visible_only:
        q = q.where(PassageRow.hidden.is_(False))
    return [passage_from_row(r, version.sha256, version.text) for r in s.scalars(q)]


def passage_from_row(row: PassageRow, sha256: str, text: str, heading_path: list[str] | None = None) -> Passage:
    return Passage(id=row.id, version_id=row.version_id, document_id=row.document_id, document_sha256=sha256,
                   seq=row.seq, start=row.start, end=row.end, text=text[row.start:row.end],
                   heading_path=row.heading_path if heading_path is None else heading_path, page=row.page,
                   hidden=row.hidden, flags=row.flags or [])


# --- the workspace's current passages ------------------------------------------------------------------


def passages_by_id(ctx, ids: set[str]) -> dict[str, Passage]:
    """Stored passages (any version, current or not) by id: what a citation's passage_id names."""
    if not ids:
        return {}
    with ctx.store.session() as s:
        rows = s.execute(select(PassageRow, VersionRow.sha256, VersionRow.text)
                         .join(VersionRow, PassageRow.version_id == VersionRow.id).where(PassageRow.id.in_(ids))).all()
        return {row.id: passage_from_row(row, sha, text) for row, sha, text in rows}


def load_passages(ctx, workspace: str, include_hidden: bool = False) -> Corpus:
    """Every current passage of the workspace. Passage rows are read without their version's text (which
    would be copied once per passage); each current version's text is read once."""
    with ctx.store.session() as s:
        q = (select(PassageRow, VersionRow.sha256, DocumentRow.title, DocumentRow.name)
             .join(VersionRow, PassageRow.version_id == VersionRow.id)
             .join(DocumentRow, PassageRow.document_id == DocumentRow.id)
             .where(PassageRow.workspace == workspace, PassageRow.current.is_(True))
             .order_by(DocumentRow.id, PassageRow.seq))
        if not include_hidden:
            q = q.where(PassageRow.hidden.is_(False))
        rows = s.execute(q).all()
        version_ids = {prow.version_id for prow, *_ in rows}
        texts = dict(s.execute(select(VersionRow.id, VersionRow.text).where(VersionRow.id.in_(version_ids))).all()) \
            if version_ids else {}
    corpus, one = Corpus(passages=[]), {}  # `one`: a single object for each repeated string (each row has its own)
    for prow, sha, title, name in rows:
        text, sha = texts[prow.version_id], one.setdefault(sha, sha)
        corpus.texts.setdefault(sha, text)
        corpus.titles[prow.document_id] = title
        corpus.names[prow.document_id] = name
        headings = [one.setdefault(h, h) for h in prow.heading_path or []]
        corpus.passages.append(passage_from_row(prow, sha, text, headings))
    return corpus


def texts_by_sha(ctx, shas: set[str] | None = None) -> dict[str, str]:
    """Canonical text of each document version, by sha256 (all versions when `shas` is None)."""
    if shas is not None and not shas:
        return {}
    q = select(VersionRow.sha256, VersionRow.text)
    if shas is not None:
        q = q.where(VersionRow.sha256.in_(shas))
    with ctx.store.session() as s:
        return dict(s.execute(q).all())


def version_text(ctx, workspace: str, sha256: str) -> str:
    """Canonical text of a version for display, only if it belongs to the workspace; hidden text is masked
    character for character (offsets hold), so it is never shown around evidence."""
    with ctx.store.session() as s:
        return read_version_text(s, workspace, sha256)


def read_version_text(s: Session, workspace: str, sha256: str) -> str:
    """`version_text` inside the caller's transaction."""
    from rag.ingest.document import mask_hidden

    row = s.execute(select(VersionRow.text, VersionRow.hidden).join(DocumentRow).where(
        VersionRow.sha256 == sha256, DocumentRow.workspace == workspace).limit(1)).first()
    if row is None:
        raise NotFound(f"no document version {sha256[:12]} in workspace {workspace}")
    return mask_hidden(row.text, row.hidden or [])


def document_title(ctx, document_id: int | None) -> str | None:
    with ctx.store.session() as s:
        return s.scalar(select(DocumentRow.title).where(DocumentRow.id == document_id))


def document_count(ctx, workspace: str) -> int:
    with ctx.store.session() as s:
        return s.scalar(select(func.count(DocumentRow.id)).where(DocumentRow.workspace == workspace)) or 0


def document_ids(ctx, workspace: str) -> dict[str, int]:
    with ctx.store.session() as s:
        return dict(s.execute(select(DocumentRow.name, DocumentRow.id).where(DocumentRow.workspace == workspace)).all())


# --- vectors: derived data, checked against the store ------------------------------------------------------


def sync_index(ctx, workspace: str, progress: Callable[[int], None] | None = None,
               corpus: Corpus | None = None, say: Callable[[str], None] | None = None) -> tuple[int, int]:
    """Make the vector index hold exactly the current visible passages of the workspace (hidden passages are
    never retrieved, so never indexed). A collection that is missing, cannot be read or cannot be written is
    rebuilt from the store, with a message. Returns (added, removed)."""
    corpus = corpus or load_passages(ctx, workspace)
    try:
        return _sync(ctx, workspace, corpus, progress)
    except Exception as exc:  # noqa: BLE001 - derived data: a broken collection is rebuilt, never fatal
        message = (f"the vector index of workspace {workspace} could not be used ({type(exc).__name__}: "
                   f"{str(exc)[:120]}); rebuilding it from the store")
        log.warning(message)
        if say:
            say(message)
        ctx.index.reset()
        ctx.index.drop(workspace, force=True)
        return _sync(ctx, workspace, corpus, progress)


def _sync(ctx, workspace: str, corpus: Corpus, progress) -> tuple[int, int]:
    have = ctx.index.ids(workspace)
    want = {p.id for p in corpus.passages}
    missing = [(p, corpus.indexed_text(i)) for i, p in enumerate(corpus.passages) if p.id not in have]
    extra = have - want
    if missing:
        ctx.index.add(workspace, missing, progress)
    if extra:
        ctx.index.remove(workspace, extra)
    return len(missing), len(extra)


def index_agreement(ctx, workspace: str) -> tuple[int, int]:
    """How far the vector index is from the store: (current passages it lacks, vectors it should not hold)."""
    want = {p.id for p in load_passages(ctx, workspace).passages}
    have = ctx.index.ids(workspace)
    return len(want - have), len(have - want)
