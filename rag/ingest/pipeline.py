"""Ingestion: bytes in, a stored document version with sections and passages out, then indexed.

Identical bytes are a no-op (no parsing, no embedding). Changed bytes make a new version; the old one and its
passages stay for the audit trail, and the result says which sections changed and which of the old passages
no longer occur verbatim (versions.py). Each document is one transaction: a bad file leaves nothing behind
and does not stop the rest of the batch. Vectors are derived data: a batch embeds and indexes its passages
in large groups after the SQL commits, and `rag.corpus.sync_index` repairs the index if that step was interrupted.
The version, the drift it causes and its audit event commit together (versions.py). Faces do not call this
module directly: `rag.workflows.ingest_documents` does.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from rag import placeholders
from rag.context import Context
from rag.corpus import document_title
from rag.errors import BadPath, IngestError, TooLarge
from rag.index import BATCH, passage_document
from rag.ingest.chunk import chunk
from rag.ingest.parse import parse_bytes
from rag.ingest.select import select_files
from rag.ingest.versions import IngestResult, current_version, restore_version, store_version
from rag.models import Passage, sha256_hex

log = logging.getLogger(__name__)

__all__ = ["IngestResult", "check_name", "collect", "ingest_paths", "ingest_file", "ingest_bytes"]


def check_name(name: str) -> str:
    """A document name is a relative path without '..' parts, NUL bytes or drive letters."""
    if not name or "\x00" in name:
        raise BadPath("the file name is empty or contains a NUL byte", file=repr(name))
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ":" in parts[0] or any(p in ("..", ".") for p in parts):
        raise BadPath("the file name must be a plain relative path (no '..', no absolute path)", file=name)
    if len(name) > 512:
        raise BadPath("the file name is longer than 512 characters", file=name[:80] + "...")
    return "/".join(p for p in parts if p)


def collect(paths: list[str], include: list[str] | tuple = (), exclude: list[str] | tuple = ()
            ) -> list[tuple[str, Path]]:
    """Expand files, folders (recursively) and globs into (document name, path) pairs of the documents among
    them (select.py decides which files are documents and says why the others are skipped)."""
    return select_files(paths, include, exclude).files


class IndexBatch:
    """Passages waiting to be embedded and indexed, flushed in groups of `size`. With `background`, a group is
    embedded and upserted on a worker thread while the next documents are parsed (the tokenizer, numpy and
    Chroma's Rust core release the GIL), one group in flight at a time so memory stays bounded."""

    def __init__(self, ctx: Context, workspace: str, size: int = BATCH, background: bool = False) -> None:
        self.ctx, self.workspace, self.size = ctx, workspace, size
        self.items: list[tuple[Passage, str]] = []
        self.stale: list[str] = []
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ctrlmap-index") if background else None
        self._pending: Future | None = None

    def add(self, result: IngestResult, passages: list[Passage], title: str) -> None:
        self.items.extend((p, passage_document(p, title)) for p in passages if not p.hidden)  # never retrieved
        self.stale.extend(result.stale_ids)
        if len(self.items) >= self.size:
            self.flush(wait=False)

    def flush(self, wait: bool = True) -> None:
        items, stale = self.items, self.stale
        self.items, self.stale = [], []
        self._wait()
        if self._pool is None:
            self._write(items, stale)
            return
        self._pending = self._pool.submit(self._write, items, stale)
        if wait:
            self._wait()
            self._pool.shutdown()

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def _write(self, items: list[tuple[Passage, str]], stale: list[str]) -> None:
        try:
            if stale:
                self.ctx.index.remove(self.workspace, stale)
            if items:
                self.ctx.index.add(self.workspace, items)
        except Exception:  # noqa: BLE001 - derived data: sync_index re-embeds whatever is missing
            log.warning("vector index update failed; it is repaired before the next mapping run", exc_info=True)


def ingest_paths(ctx: Context, workspace: str, paths: list[str],
                 progress: Callable[[IngestResult], None] | None = None, actor: str = "ctrlmap",
                 files: list[tuple[str, Path]] | None = None) -> list[IngestResult]:
    results = []
    batch = IndexBatch(ctx, workspace, background=True)
    try:
        for name, path in (files if files is not None else collect(paths)):
            results.append(ingest_file(ctx, workspace, name, path, batch, actor))
            if progress:
                progress(results[-1])
    finally:
        batch.flush()
    return results


def ingest_file(ctx: Context, workspace: str, name: str, path: Path, batch: IndexBatch | None = None,
                actor: str = "ctrlmap") -> IngestResult:
    started = time.perf_counter()
    try:
        name = check_name(name)
        if not path.is_file():
            raise IngestError("no such file", file=str(path))
        _check_size(path.stat().st_size, name, ctx)
        result = ingest_bytes(ctx, workspace, name, path.read_bytes(), batch, actor)
    except IngestError as exc:
        result = rejected(name, exc)
    except OSError as exc:
        result = rejected(name, IngestError(f"cannot read the file: {exc.strerror or exc}", file=name))
    except Exception as exc:  # noqa: BLE001 - one file's failure (already rolled back) must not end the batch
        log.exception("ingesting %s failed", name)
        result = rejected(name, IngestError(f"could not be stored ({type(exc).__name__}: {exc})"[:300], file=name))
    result.seconds = time.perf_counter() - started
    return result


def rejected(name: str, exc: IngestError) -> IngestResult:
    return IngestResult(name=name, status="rejected", reason=exc.reason, message=exc.message, error=exc)


def _check_size(size: int, name: str, ctx: Context) -> None:
    limit = int(ctx.settings.max_file_mb * 1024 * 1024)
    if size > limit:
        raise TooLarge(f"{size / 1048576:.3g} MB ({size:,} bytes) is over the {ctx.settings.max_file_mb:g} MB limit "
                       f"(CTRLMAP_MAX_FILE_MB)", file=name)


def ingest_bytes(ctx: Context, workspace: str, name: str, data: bytes, batch: IndexBatch | None = None,
                 actor: str = "ctrlmap") -> IngestResult:
    """Ingest one document's bytes; raises IngestError for anything that cannot be ingested."""
    name = check_name(name)
    _check_size(len(data), name, ctx)
    sha = sha256_hex(data)
    with ctx.store.session() as s:
        cur = current_version(s, workspace, name)
    if cur.sha256 == sha:
        return IngestResult(name=name, status="unchanged", document_id=cur.document_id, version=cur.number,
                            sha256=sha)
    if sha in cur.known:
        result, stored = restore_version(ctx, workspace, name, sha, actor)
        title = None
    else:
        parsed = parse_bytes(data, name, ctx.settings)
        parsed.warnings.extend(filter(None, [placeholders.warning(parsed.text)]))
        passages = chunk(parsed, sha, ctx.settings.chunk_tokens, ctx.settings.chunk_overlap,
                         ctx.settings.min_section_tokens)
        result, stored = store_version(ctx, workspace, name, data, sha, parsed, passages, actor)
        title = parsed.title
    own = batch or IndexBatch(ctx, workspace)
    own.add(result, stored, title or document_title(ctx, result.document_id) or Path(name).stem)
    if batch is None:
        own.flush()
    return result
