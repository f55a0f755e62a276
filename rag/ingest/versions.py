"""Storing a document version: one transaction per document, holding the version, its passages, the drift
it causes (mappings citing text that is gone go back to review) and its audit event, so a crash leaves either
all of it or none.

The current version of a document is the one whose passages are current (`rag.corpus` owns that
definition). Identical bytes to it are a no-op.
Different bytes make a new version (or, when they equal an older version, restore that one: a version's
identity is its bytes); the old version and its passages stay for the audit trail, marked not current. The
result names the sections that changed and the previous version's passages that no longer occur verbatim.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select, update

from rag import audit, drift
from rag.corpus import current_versions, passage_from_row
from rag.ingest.document import ParsedDocument
from rag.models import Passage, sha256_hex
from rag.store import DocumentRow, PassageRow, SectionRow, VersionRow


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
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    drift: drift.DriftReport | None = None
    error: Exception | None = field(default=None, repr=False)
    stale_ids: list[str] = field(default_factory=list, repr=False)  # passages that left the index

    def as_dict(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k not in ("error", "stale_ids", "drift")}
        data["drift"] = self.drift.__dict__ if self.drift else None
        return data


@dataclass
class Current:
    document_id: int | None
    version_id: int | None
    number: int | None
    sha256: str | None
    known: dict[str, tuple[int, int]]  # sha256 -> (version id, number) of every stored version


def current_version(s, workspace: str, name: str) -> Current:
    """Cheap look-up (no version texts loaded) of a document's versions and which one is current."""
    doc_id = s.scalar(select(DocumentRow.id).where(DocumentRow.workspace == workspace, DocumentRow.name == name))
    if doc_id is None:
        return Current(None, None, None, None, {})
    rows = s.execute(select(VersionRow.id, VersionRow.number, VersionRow.sha256)
                     .where(VersionRow.document_id == doc_id).order_by(VersionRow.number)).all()
    known = {sha: (vid, number) for vid, number, sha in rows}
    current = current_versions(s, workspace, {doc_id}).get(doc_id)
    if current is None:
        return Current(doc_id, None, None, None, known)
    return Current(doc_id, current.version_id, current.number, current.sha256, known)


def store_version(ctx, workspace: str, name: str, data: bytes, sha: str, parsed: ParsedDocument,
                  passages: list[Passage], actor: str) -> tuple[IngestResult, list[Passage]]:
    """A new version from parsed bytes. The look-up is repeated inside the write transaction, so a concurrent
    upload of the same bytes that committed first turns this one into a no-op (or a restore)."""
    with ctx.store.session(write=True) as s:
        cur = current_version(s, workspace, name)
        if sha in cur.known:
            return _settle(s, workspace, actor, *_known(s, cur, workspace, name, sha))
        doc = s.get(DocumentRow, cur.document_id) if cur.document_id else None
        if doc is None:
            doc = DocumentRow(workspace=workspace, name=name, title=parsed.title or Path(name).stem)
            s.add(doc)
            s.flush()
        version = _new_version(s, doc, data, sha, parsed, max((n for _, n in cur.known.values()), default=0))
        if parsed.title:
            doc.title = parsed.title
        result = IngestResult(name=name, status="new-version" if cur.version_id else "ingested", document_id=doc.id,
                              version=version.number, sha256=sha, passages=sum(not p.hidden for p in passages),
                              hidden_passages=sum(p.hidden for p in passages), warnings=list(parsed.warnings))
        new_sections = [(sec.heading_path, sha256_hex(parsed.text[sec.start:sec.end])) for sec in parsed.sections]
        _retire(s, cur, doc.id, parsed.text, new_sections, result)
        stored = [p.model_copy(update={"id": Passage.make_id(f"{workspace}/{name}@{sha}", p.start, p.end),
                                       "version_id": version.id, "document_id": doc.id}) for p in passages]
        if stored:  # Core bulk insert: several times faster than ORM objects for hundreds of rows
            s.execute(insert(PassageRow), [
                {"id": p.id, "version_id": version.id, "document_id": doc.id, "workspace": workspace, "seq": p.seq,
                 "start": p.start, "end": p.end, "heading_path": p.heading_path, "page": p.page,
                 "hidden": p.hidden, "flags": p.flags, "current": True} for p in stored])
        return _settle(s, workspace, actor, result, stored)


def restore_version(ctx, workspace: str, name: str, sha: str, actor: str) -> tuple[IngestResult, list[Passage]]:
    """Bytes identical to an older version of this document: that version becomes current again, unparsed."""
    with ctx.store.session(write=True) as s:
        return _settle(s, workspace, actor, *_known(s, current_version(s, workspace, name), workspace, name, sha))


def _settle(s, workspace: str, actor: str, result: IngestResult, stored: list[Passage]
            ) -> tuple[IngestResult, list[Passage]]:
    """In the version's own transaction: drift for the mappings that cite the document, and the audit event."""
    if result.status == "unchanged":
        return result, stored
    s.flush()
    if result.status == "new-version":
        result.drift = drift.apply(s, workspace, result.document_id, actor)
    audit.append(s, workspace=workspace, actor=actor, action="document.ingest",
                 target=f"document:{result.name[:200]}", after={"status": result.status, "version": result.version},
                 document_sha256=result.sha256, passages=result.passages,
                 changed_sections=len(result.changed_sections) or None,
                 back_to_review=len(result.drift.needs_review) if result.drift else None)
    return result, stored


def _known(s, cur: Current, workspace: str, name: str, sha: str) -> tuple[IngestResult, list[Passage]]:
    version_id, number = cur.known[sha]
    if sha == cur.sha256:
        return IngestResult(name=name, status="unchanged", document_id=cur.document_id, version=number,
                            sha256=sha), []
    version = s.get(VersionRow, version_id)
    rows = list(s.scalars(select(SectionRow).where(SectionRow.version_id == version.id).order_by(SectionRow.start)))
    result = IngestResult(name=name, status="new-version", document_id=cur.document_id, version=version.number,
                          sha256=sha, warnings=list(version.warnings or []),
                          message=f"identical to version {version.number}: that version is current again")
    _retire(s, cur, cur.document_id, version.text, [(r.heading_path, r.text_sha256) for r in rows], result)
    s.execute(update(PassageRow).where(PassageRow.version_id == version.id).values(current=True))
    stored = [passage_from_row(r, version.sha256, version.text) for r in s.scalars(
        select(PassageRow).where(PassageRow.version_id == version.id).order_by(PassageRow.seq))]
    result.passages = sum(not p.hidden for p in stored)
    result.hidden_passages = sum(p.hidden for p in stored)
    return result, stored


def _retire(s, cur: Current, doc_id: int, new_text: str, new_sections: list[tuple[list[str], str]],
            result: IngestResult) -> None:
    """Compare with the current version, then mark every passage of the document not current."""
    if cur.version_id is None:
        return
    previous = s.get(VersionRow, cur.version_id)
    result.changed_sections, result.dropped_passages = _changes(s, previous, new_text, new_sections)
    result.stale_ids = list(s.scalars(select(PassageRow.id).where(PassageRow.document_id == doc_id,
                                                                  PassageRow.current.is_(True))))
    s.execute(update(PassageRow).where(PassageRow.document_id == doc_id).values(current=False))


def _new_version(s, doc: DocumentRow, data: bytes, sha: str, parsed: ParsedDocument, last: int) -> VersionRow:
    version = VersionRow(document_id=doc.id, number=last + 1, sha256=sha, text_sha256=sha256_hex(parsed.text),
                         media_type=parsed.media_type, byte_size=len(data), parser=parsed.parser,
                         pages=parsed.pages, text=parsed.text, hidden=[h.model_dump() for h in parsed.hidden],
                         warnings=parsed.warnings)
    s.add(version)
    s.flush()
    if parsed.sections:
        s.execute(insert(SectionRow), [
            {"version_id": version.id, "heading_path": sec.heading_path, "level": sec.level, "start": sec.start,
             "end": sec.end, "page": sec.page, "text_sha256": sha256_hex(parsed.text[sec.start:sec.end])}
            for sec in parsed.sections])
    return version


def _section_keys(paths: list[list[str]], hashes: list[str]) -> dict[str, str]:
    """'A > B' for each section; a heading path that repeats gets ' #2', ' #3' so none is lost."""
    seen: Counter = Counter()
    out = {}
    for path, digest in zip(paths, hashes):
        key = " > ".join(path) or "(preamble)"
        seen[key] += 1
        out[key if seen[key] == 1 else f"{key} #{seen[key]}"] = digest
    return out


def _changes(s, previous: VersionRow, new_text: str, new_sections: list[tuple[list[str], str]]
             ) -> tuple[list[str], list[str]]:
    """Sections whose text changed (or appeared/disappeared), and the previous version's visible passages
    whose text no longer occurs verbatim in the new canonical text."""
    rows = list(s.scalars(select(SectionRow).where(SectionRow.version_id == previous.id).order_by(SectionRow.start)))
    old = _section_keys([r.heading_path for r in rows], [r.text_sha256 for r in rows])
    new = _section_keys([path for path, _ in new_sections], [digest for _, digest in new_sections])
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    old_passages = s.scalars(select(PassageRow).where(PassageRow.version_id == previous.id,
                                                      PassageRow.hidden.is_(False)).order_by(PassageRow.seq))
    dropped = [r.id for r in old_passages if previous.text[r.start:r.end] not in new_text]
    return changed, dropped
