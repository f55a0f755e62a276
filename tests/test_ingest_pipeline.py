"""Chunking, versions, hidden passages and the `ctrlmap ingest` batch: good files land, bad ones are reported."""

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from rag.citations import cite
from rag.errors import CitationError
from rag.ingest import specimens
from rag.ingest.chunk import chunk
from rag.ingest.markdown import parse_markdown
from rag.corpus import sync_index
from rag.ingest.pipeline import ingest_bytes, ingest_paths
from rag.retrieve import load_passages
from rag.store import PassageRow, VersionRow

POLICY = """# Access Control Policy

## 1. Purpose

This policy sets how Example Co grants, reviews and removes access to its systems and data.

## 2. Scope

All employees and contractors with an account on any production system.

## 3. Reviews

System owners review all user access every quarter and remove anything no longer needed.
Leavers lose all access within one business day of their last day.
Privileged roles are reviewed every month by the security lead.
"""


def _count(fn):
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        return fn(*args, **kwargs)
    return wrapper, calls


# --- chunking -----------------------------------------------------------------------------------------


def test_passages_follow_sections_and_tiny_ones_merge():
    doc = parse_markdown(POLICY)
    passages = chunk(doc, "sha", size=60, overlap=10, min_section_tokens=12)
    for p in passages:
        inside = [s for s in doc.sections if s.start <= p.start and p.end <= s.end]
        assert inside or p.start < doc.sections[1].end  # only the merged title + purpose spans two sections
        assert p.text == doc.text[p.start:p.end]
    first = passages[0]
    assert first.text.startswith("Access Control Policy") and "This policy sets" in first.text
    assert first.heading_path[-1] == "1. Purpose"


def test_size_overlap_and_long_sentences():
    text = "# Policy\n\n" + " ".join(f"Rule {i} requires owners to approve each change in writing." for i in range(60))
    doc = parse_markdown(text)
    passages = chunk(doc, "sha", size=50, overlap=12)
    assert len(passages) > 5
    for a, b in zip(passages[1:], passages[2:]):
        assert b.start < a.end  # consecutive passages overlap
    one_sentence = parse_markdown("# P\n\n" + "word " * 600 + "end.")
    pieces = chunk(one_sentence, "sha", size=100, overlap=10)
    assert len(pieces) >= 5 and all(len(p.text.split()) <= 160 for p in pieces)


def test_passage_ids_are_stable_across_runs(ctx, tmp_path):
    doc = parse_markdown(POLICY)
    assert [p.id for p in chunk(doc, "sha")] == [p.id for p in chunk(parse_markdown(POLICY), "sha")]
    workspace = ctx.workspace(create=True)
    ingest_bytes(ctx, workspace, "p.md", POLICY.encode())
    ids = [p.id for p in load_passages(ctx, workspace).passages]
    from rag.context import Context
    from rag.settings import Settings

    other = Context(Settings.load("offline", data_dir=tmp_path / "other"))
    ingest_bytes(other, other.workspace(create=True), "p.md", POLICY.encode())
    assert [p.id for p in load_passages(other, other.workspace(create=True)).passages] == ids
    other.close()


# --- versions -----------------------------------------------------------------------------------------


def test_unchanged_bytes_do_no_parsing_or_embedding(ctx, monkeypatch):
    import rag.ingest.pipeline as pipeline

    workspace = ctx.workspace(create=True)
    first = ingest_bytes(ctx, workspace, "p.md", POLICY.encode())
    assert first.status == "ingested" and first.version == 1
    parse, parses = _count(pipeline.parse_bytes)
    embed, embeds = _count(ctx.embeddings.embed_array)
    monkeypatch.setattr(pipeline, "parse_bytes", parse)
    monkeypatch.setattr(ctx.embeddings, "embed_array", embed)
    again = ingest_bytes(ctx, workspace, "p.md", POLICY.encode())
    assert again.status == "unchanged" and again.version == 1 and not parses and not embeds


def test_new_version_keeps_old_and_reports_changes(ctx):
    workspace = ctx.workspace(create=True)
    v1 = ingest_bytes(ctx, workspace, "p.md", POLICY.encode())
    changed = POLICY.replace("every quarter", "every half year")
    v2 = ingest_bytes(ctx, workspace, "p.md", changed.encode())
    assert v2.status == "new-version" and v2.version == 2 and v2.document_id == v1.document_id
    assert v2.changed_sections == ["Access Control Policy > 3. Reviews"]
    with ctx.store.session() as s:
        old_rows = list(s.scalars(select(PassageRow).join(VersionRow).where(VersionRow.number == 1)))
        old_text = s.scalar(select(VersionRow.text).where(VersionRow.number == 1))
    assert old_rows and not any(r.current for r in old_rows)  # old passages stay for the audit trail
    dropped = {r.id for r in old_rows if "every quarter" in old_text[r.start:r.end]}
    assert set(v2.dropped_passages) == dropped and dropped
    current = load_passages(ctx, workspace).passages
    assert all("every quarter" not in p.text for p in current)
    assert sync_index(ctx, workspace) == (0, 0)  # the index already holds exactly the current passages


def test_uploading_an_older_version_again_restores_it(ctx):
    workspace = ctx.workspace(create=True)
    ingest_bytes(ctx, workspace, "p.md", POLICY.encode())
    ingest_bytes(ctx, workspace, "p.md", POLICY.replace("quarter", "year").encode())
    back = ingest_bytes(ctx, workspace, "p.md", POLICY.encode())
    assert back.status == "new-version" and back.version == 1 and "current again" in back.message
    assert any("every quarter" in p.text for p in load_passages(ctx, workspace).passages)
    assert ingest_bytes(ctx, workspace, "p.md", POLICY.encode()).status == "unchanged"
    assert sync_index(ctx, workspace) == (0, 0)


# --- hidden text ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,data", [("hidden.pdf", specimens.hidden_text_pdf()),
                                       ("hidden.docx", specimens.policy_docx(1, hidden=True))])
def test_hidden_passages_are_flagged_never_retrieved_or_cited(ctx, name, data):
    workspace = ctx.workspace(create=True)
    result = ingest_bytes(ctx, workspace, name, data)
    assert result.hidden_passages >= 1
    visible = load_passages(ctx, workspace)
    everything = load_passages(ctx, workspace, include_hidden=True)
    hidden = [p for p in everything.passages if p.hidden]
    assert hidden and not any(p.hidden for p in visible.passages)
    assert all(h.id not in {p.id for p in visible.passages} for h in hidden)
    assert not any(word in p.text for p in visible.passages for word in ("approved by everyone", "exception"))
    text = everything.texts[hidden[0].document_sha256]
    with pytest.raises(CitationError, match="hidden"):
        cite(hidden[0], text, hidden[0].start, hidden[0].end)
    assert not {h.id for h in hidden} & ctx.index.ids(workspace)


# --- batches and the CLI ----------------------------------------------------------------------------------


def _mixed_folder(tmp_path):
    folder = tmp_path / "policies"
    (folder / "sub").mkdir(parents=True)
    (folder / "access.md").write_text(POLICY)
    (folder / "sub" / "controls.pdf").write_bytes(specimens.text_pdf(specimens.policy_pages(2)))
    (folder / "plan.docx").write_bytes(specimens.policy_docx(2))
    (folder / "empty.md").write_bytes(b"")
    (folder / "scan.pdf").write_bytes(specimens.scanned_pdf())
    (folder / "xxe.docx").write_bytes(specimens.xxe_docx())
    (folder / "cut.pdf").write_bytes(specimens.truncated(specimens.text_pdf(specimens.policy_pages(2))))
    (folder / ".hidden.md").write_text(POLICY)  # dot files are skipped
    return folder


def test_mixed_batch_lands_good_files_and_reports_bad_ones(ctx, tmp_path):
    results = {r.name: r for r in ingest_paths(ctx, ctx.workspace(create=True), [str(_mixed_folder(tmp_path))])}
    assert {n for n, r in results.items() if r.status == "ingested"} == {"access.md", "sub/controls.pdf", "plan.docx"}
    assert {n: r.reason for n, r in results.items() if r.status == "rejected"} == {
        "empty.md": "empty", "scan.pdf": "needs-ocr", "xxe.docx": "unsafe", "cut.pdf": "corrupt"}
    assert len(load_passages(ctx, ctx.workspace(create=True)).document_ids) > 0


def test_cli_ingest_table_json_and_exit_code(tmp_path):
    from api.cli import app

    folder = _mixed_folder(tmp_path)
    runner = CliRunner()
    args = ["--data-dir", str(tmp_path / "data"), "ingest"]
    first = runner.invoke(app, args + [str(folder)])
    assert first.exit_code == 3, first.output
    for words in ("access.md", "ingested", "needs-ocr", "unsafe", "3 ingested", "4 rejected"):
        assert words in first.output
    second = runner.invoke(app, args + ["--json", str(folder / "*.md"), str(folder / "plan.docx")])
    assert second.exit_code == 3
    rows = json.loads(second.stdout[: second.stdout.rindex("]") + 1])
    assert {r["name"]: r["status"] for r in rows} == {"access.md": "unchanged", "empty.md": "rejected",
                                                      "plan.docx": "unchanged"}
    good = runner.invoke(app, args + [str(folder / "access.md")])
    assert good.exit_code == 0 and "unchanged" in good.output
    nothing = runner.invoke(app, args + [str(folder / "*.nothing")])
    assert nothing.exit_code == 3


def test_a_concurrent_upload_of_the_same_bytes_becomes_a_no_op(ctx):
    from rag.ingest.chunk import chunk as make_passages
    from rag.ingest.parse import parse_bytes
    from rag.ingest.versions import store_version
    from rag.models import sha256_hex

    workspace = ctx.workspace(create=True)
    data = POLICY.encode()
    parsed = parse_bytes(data, "p.md", ctx.settings)  # parsed before the other upload committed
    ingest_bytes(ctx, workspace, "p.md", data)
    result, stored = store_version(ctx, workspace, "p.md", data, sha256_hex(data), parsed,
                                   make_passages(parsed, sha256_hex(data)), "tester")
    assert result.status == "unchanged" and stored == []


def test_an_unexpected_failure_on_one_file_does_not_end_the_batch(ctx, tmp_path, monkeypatch):
    import rag.ingest.pipeline as pipeline

    real = pipeline.store_version

    def flaky(ctx_, workspace, name, *args):
        if name == "a.md":
            raise RuntimeError("database is locked")
        return real(ctx_, workspace, name, *args)

    monkeypatch.setattr(pipeline, "store_version", flaky)
    (tmp_path / "a.md").write_text(POLICY)
    (tmp_path / "b.md").write_text(POLICY.replace("Example Co", "Other Co"))
    results = {r.name: r for r in ingest_paths(ctx, ctx.workspace(create=True), [str(tmp_path / "*.md")])}
    assert results["a.md"].status == "rejected" and "database is locked" in results["a.md"].message
    assert results["b.md"].status == "ingested"
