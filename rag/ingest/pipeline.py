"""Ingestion: bytes in, a stored document version with sections and passages out, then indexed.

Identical bytes are a no-op (no parsing, no embedding). Changed bytes make a new version; the old one and its
passages stay for the audit trail, and the result says which sections changed and which of the old passages
no longer occur verbatim. Each document is one transaction: a bad file leaves nothing behind and does not
stop the rest of the batch.
"""

from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sqlalchemy import func, select, update

from rag.context import Context
from rag.errors import BadPath, IngestError, TooLarge
from rag.index import passage_document
from rag.ingest.chunk import chunk
from rag.ingest.document import ParsedDocument
from rag.ingest.parse import parse_bytes
from rag.models import Passage, sha256_hex
from rag.store import DocumentRow, PassageRow, SectionRow, VersionRow

SKIP_NAMES = {".DS_Store", "Thumbs.db"}


@dataclass
class IngestResult:
    name: str
    status: str  # ingested | new-version | unchanged | rejected
    document_id: int | None = None
    version: int | None = None
    sha256: str | None = None
    passages: int = 0
    hidden_passages: int = 0
    changed_sections: list[str] = field(default_factory=list)
    dropped_passages: list[str] = field(default_factory=list)
    reason: str | None = None
    message: str | None = None
    seconds: float = 0.0
    error: IngestError | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "error"}


def check_name(name: str) -> str:
    """A document name is a relative path without '..' parts, NUL bytes or drive letters."""
    if not name or "\x00" in name:
        raise BadPath("the file name is empty or contains a NUL byte", file=repr(name))
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ":" in parts[0] or any(p in ("..", ".") for p in parts):
        raise BadPath("the file name must be a plain relative path (no '..', no absolute path)", file=name)
    return "/".join(p for p in parts if p)


def collect(paths: list[str]) -> list[tuple[str, Path]]:
    """Expand files, folders (recursively) and globs into (document name, path) pairs."""
    out: list[tuple[str, Path]] = []
    for arg in paths:
        matches = [Path(m) for m in sorted(glob.glob(arg, recursive=True))] if glob.has_magic(arg) else [Path(arg)]
        for path in matches:
            if path.is_dir():
                for file in sorted(p for p in path.rglob("*") if p.is_file()):
                    rel = file.relative_to(path)
                    if not any(part.startswith(".") for part in rel.parts) and file.name not in SKIP_NAMES:
                        out.append((rel.as_posix(), file))
            else:
                out.append((path.name, path))
    return out


def ingest_paths(ctx: Context, workspace: str, paths: list[str],
                 progress: Callable[[IngestResult], None] | None = None) -> list[IngestResult]:
    results = []
    for name, path in collect(paths):
        results.append(ingest_file(ctx, workspace, name, path))
        if progress:
            progress(results[-1])
    return results


def ingest_file(ctx: Context, workspace: str, name: str, path: Path) -> IngestResult:
    started = time.perf_counter()
    try:
        if not path.exists():
            raise IngestError("no such file", file=str(path))
        size = path.stat().st_size
        limit = int(ctx.settings.max_file_mb * 1024 * 1024)
        if size > limit:
            raise TooLarge(f"{size / 1048576:.1f} MB is over the {ctx.settings.max_file_mb:g} MB limit", file=name)
        result = ingest_bytes(ctx, workspace, name, path.read_bytes())
    except IngestError as exc:
        result = _rejected(name, exc)
    except OSError as exc:
        result = _rejected(name, IngestError(f"cannot read the file: {exc.strerror or exc}", file=name))
    result.seconds = time.perf_counter() - started
    return result


def _rejected(name: str, exc: IngestError) -> IngestResult:
    return IngestResult(name=name, status="rejected", reason=exc.reason, message=exc.message, error=exc)


def ingest_bytes(ctx: Context, workspace: str, name: str, data: bytes) -> IngestResult:
    """Ingest one document's bytes; raises IngestError for anything that cannot be ingested."""
    name = check_name(name)
    limit = int(ctx.settings.max_file_mb * 1024 * 1024)
    if len(data) > limit:
        raise TooLarge(f"{len(data) / 1048576:.1f} MB is over the {ctx.settings.max_file_mb:g} MB limit", file=name)
    sha = sha256_hex(data)
    with ctx.store.session() as s:
        doc = s.scalar(select(DocumentRow).where(DocumentRow.workspace == workspace, DocumentRow.name == name))
        latest = doc.versions[-1] if doc and doc.versions else None
        if latest is not None and latest.sha256 == sha:
            return IngestResult(name=name, status="unchanged", document_id=doc.id, version=latest.number, sha256=sha)
    try:
        parsed = parse_bytes(data, name, ctx.settings)
    except IngestError as exc:
        exc.context.setdefault("file", name)
        exc.file = exc.file or name
        raise
    passages = chunk(parsed, sha, ctx.settings.chunk_tokens, ctx.settings.chunk_overlap,
                     ctx.settings.min_section_tokens)
    result, stored = _store_version(ctx, workspace, name, data, sha, parsed, passages)
    _index(ctx, workspace, stored, result, parsed)
    return result


def _store_version(ctx: Context, workspace: str, name: str, data: bytes, sha: str, parsed: ParsedDocument,
                   passages: list[Passage]) -> tuple[IngestResult, list[Passage]]:
    with ctx.store.session(write=True) as s:
        doc = s.scalar(select(DocumentRow).where(DocumentRow.workspace == workspace, DocumentRow.name == name))
        if doc is None:
            doc = DocumentRow(workspace=workspace, name=name, title=parsed.title or Path(name).stem)
            s.add(doc)
            s.flush()
        previous = s.scalar(select(VersionRow).where(VersionRow.document_id == doc.id)
                            .order_by(VersionRow.number.desc()).limit(1))
        number = (previous.number + 1) if previous else 1
        version = VersionRow(document_id=doc.id, number=number, sha256=sha, text_sha256=sha256_hex(parsed.text),
                             media_type=parsed.media_type, byte_size=len(data), parser=parsed.parser,
                             pages=parsed.pages, text=parsed.text, hidden=[h.model_dump() for h in parsed.hidden],
                             warnings=parsed.warnings)
        s.add(version)
        s.flush()
        if parsed.title:
            doc.title = parsed.title
        for sec in parsed.sections:
            s.add(SectionRow(version_id=version.id, heading_path=sec.heading_path, level=sec.level,
                             start=sec.start, end=sec.end, page=sec.page,
                             text_sha256=sha256_hex(parsed.text[sec.start:sec.end])))
        result = IngestResult(name=name, status="new-version" if previous else "ingested", document_id=doc.id,
                              version=number, sha256=sha, passages=sum(not p.hidden for p in passages),
                              hidden_passages=sum(p.hidden for p in passages))
        if previous is not None:
            result.changed_sections, result.dropped_passages = _changes(s, previous, parsed)
            s.execute(update(PassageRow).where(PassageRow.document_id == doc.id).values(current=False))
        stored = []
        for p in passages:
            pid = Passage.make_id(f"{workspace}/{name}@{sha}", p.start, p.end)
            s.add(PassageRow(id=pid, version_id=version.id, document_id=doc.id, workspace=workspace, seq=p.seq,
                             start=p.start, end=p.end, heading_path=p.heading_path, page=p.page, hidden=p.hidden,
                             current=True))
            stored.append(p.model_copy(update={"id": pid, "version_id": version.id, "document_id": doc.id}))
    return result, stored


def _changes(s, previous: VersionRow, parsed: ParsedDocument) -> tuple[list[str], list[str]]:
    """Sections whose text changed (or appeared/disappeared), and old passages no longer found verbatim."""
    old = {" > ".join(r.heading_path): r.text_sha256
           for r in s.scalars(select(SectionRow).where(SectionRow.version_id == previous.id))}
    new = {" > ".join(sec.heading_path): sha256_hex(parsed.text[sec.start:sec.end]) for sec in parsed.sections}
    changed = sorted(k or "(preamble)" for k in set(old) | set(new) if old.get(k) != new.get(k))
    dropped = [r.id for r in s.scalars(select(PassageRow).where(PassageRow.version_id == previous.id))
               if previous.text[r.start:r.end] not in parsed.text]
    return changed, dropped


def _index(ctx: Context, workspace: str, passages: list[Passage], result: IngestResult,
           parsed: ParsedDocument) -> None:
    """Vectors are derived data: if this fails, `sync_index` repairs it before the next mapping run."""
    title = parsed.title or Path(result.name).stem
    ctx.index.add(workspace, [(p, passage_document(p, title)) for p in passages])
    if result.status == "new-version":
        with ctx.store.session() as s:
            stale = s.scalars(select(PassageRow.id).where(PassageRow.document_id == result.document_id,
                                                          PassageRow.current.is_(False)))
            ctx.index.remove(workspace, list(stale))


def sync_index(ctx: Context, workspace: str, progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Make the vector index hold exactly the current passages of the workspace. Returns (added, removed)."""
    from rag.retrieve import load_passages

    corpus = load_passages(ctx, workspace)
    want = {p.id for p in corpus.passages}
    have = ctx.index.ids(workspace)
    missing = [(p, corpus.indexed_text(i)) for i, p in enumerate(corpus.passages) if p.id not in have]
    extra = have - want
    if missing:
        ctx.index.add(workspace, missing, progress)
    if extra:
        ctx.index.remove(workspace, extra)
    return len(missing), len(extra)


def document_count(ctx: Context, workspace: str) -> int:
    with ctx.store.session() as s:
        return s.scalar(select(func.count(DocumentRow.id)).where(DocumentRow.workspace == workspace)) or 0


def workspace_slug(path: str) -> str:
    return os.path.basename(os.path.normpath(path))
