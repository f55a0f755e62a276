"""The DOCX DOCTYPE/entity pre-check reads every part an XML parser could read, whatever its name or
encoding: UTF-16/UTF-32 with or without a byte-order mark, `.rels` parts, and a main part moved to a name
that does not end in .xml (found through [Content_Types].xml). Each goes through the public pipeline."""

from __future__ import annotations

import pytest

from rag.errors import UnsafeFile
from rag.ingest import specimens
from rag.ingest.pipeline import ingest_bytes
from rag.store import DocumentRow

CASES = {
    "utf-16-le-no-bom": lambda: specimens.xxe_docx_encoded("utf-16-le", bom=False),
    "utf-16-be-bom": lambda: specimens.xxe_docx_encoded("utf-16-be", bom=True),
    "utf-32-le-bom": lambda: specimens.xxe_docx_encoded("utf-32-le", bom=True),
    "utf-32-le-no-bom": lambda: specimens.xxe_docx_encoded("utf-32-le", bom=False),
    "utf-32-be-no-bom": lambda: specimens.xxe_docx_encoded("utf-32-be", bom=False),
    "main-part-not-named-xml": specimens.xxe_docx_renamed,
    "rels-part-in-utf-32": specimens.xxe_in_rels_docx,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_doctype_is_found_in_any_part_and_encoding(ctx, case):
    ws = ctx.workspace("xml", create=True)
    with pytest.raises(UnsafeFile, match="DOCTYPE or entities"):
        ingest_bytes(ctx, ws, f"{case}.docx", CASES[case]())
    with ctx.store.session() as s:
        assert s.query(DocumentRow).count() == 0  # nothing half-written


def test_an_ordinary_docx_still_passes(ctx):
    result = ingest_bytes(ctx, ctx.workspace("xml", create=True), "ok.docx", specimens.policy_docx(2))
    assert result.status == "ingested" and result.passages > 0
