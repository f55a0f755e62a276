"""Hostile HTML and Markdown (deep nesting, unclosed tags) parse in time linear in their size, inside the
same limited child as PDF and DOCX, and an upload being parsed holds no lock another upload needs."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.auth import Role, create_key
from rag.context import Context
from rag.errors import ParseLimit
from rag.ingest import specimens
from rag.ingest.parse import parse_bytes
from rag.ingest.pipeline import ingest_bytes
from rag.settings import Settings

MB = 1_000_000


@pytest.mark.parametrize("make, name", [(specimens.nested_html, "nested.html"),
                                        (specimens.unclosed_html, "unclosed.html"),
                                        (specimens.unterminated_html, "unterminated.html"),
                                        (specimens.nested_markdown, "nested.md")])
def test_half_a_megabyte_of_nesting_or_unclosed_tags_parses_well_within_the_limit(settings, make, name):
    started = time.perf_counter()
    parsed = parse_bytes(make(MB // 2), name, settings)  # in the limited child, as every ingestion does
    assert parsed.text.strip()
    assert time.perf_counter() - started < settings.parse_timeout_s / 4  # quadratic parsing took minutes


@pytest.mark.parametrize("make, name", [(specimens.nested_html, "deep.html"),
                                        (specimens.nested_markdown, "deep.md")])
def test_html_and_markdown_parse_under_the_time_limit(tmp_path, make, name):
    ctx = Context(Settings.load("offline", data_dir=tmp_path / "data", parse_timeout_s=1))
    try:
        with pytest.raises(ParseLimit, match="within the 1 s limit"):
            ingest_bytes(ctx, ctx.workspace("hostile", create=True), name, make(30 * MB))
    finally:
        ctx.close()


def test_a_slow_upload_does_not_hold_up_another(tmp_path):
    ctx = Context(Settings.load("offline", data_dir=tmp_path / "data", parse_timeout_s=8))
    ws = ctx.workspace("busy", create=True)
    key, _ = create_key(ctx, Role.admin, ws, name="Ada Admin")
    headers = {"Authorization": f"Bearer {key}"}
    done: dict[str, tuple[float, int]] = {}
    started = time.perf_counter()

    def upload(client, name: str, data: bytes) -> None:
        response = client.post(f"/api/workspaces/{ws}/documents", files={"file": (name, data)}, headers=headers)
        done[name] = (time.perf_counter() - started, response.status_code)

    try:
        with TestClient(create_app(ctx=ctx)) as client:
            upload(client, "warm.md", b"# Warm up\n\nThe parser servers are started before the clock runs.\n")
            started = time.perf_counter()
            slow = threading.Thread(target=upload, args=(client, "hostile.html", specimens.nested_html(30 * MB)))
            slow.start()
            time.sleep(1.0)  # the hostile file is being parsed
            upload(client, "policy.md", b"# Access\n\nOwners review access to production systems every quarter.\n")
            slow.join(60)
    finally:
        ctx.close()
    assert done["hostile.html"][1] == 422 and done["policy.md"][1] == 201
    assert done["policy.md"][0] < done["hostile.html"][0]  # not queued behind the hostile parse
