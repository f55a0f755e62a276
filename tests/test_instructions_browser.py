"""The review page (real headless Chromium) warns on a proposal whose cited passage reads like instructions to
a reviewer or a model, and only on that one."""

from __future__ import annotations

import pytest

from rag.auth import Role, create_key
from rag.ingest.pipeline import ingest_bytes
from rag.mapping import propose
from rag.review import list_proposals, save_run
from tests.test_instructions import ACCESS, INCIDENT
from tests import test_web_browser as web

pytestmark = web.pytestmark  # skipped where Debian's chromium is missing, as the other browser tests
WS = "flagged"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from rag.context import Context
    from rag.settings import Settings

    ctx = Context(Settings.load("offline", data_dir=tmp_path_factory.mktemp("flags") / "data"))
    ws = ctx.workspace(WS, create=True)
    ingest_bytes(ctx, ws, "access.md", ACCESS.encode())
    ingest_bytes(ctx, ws, "incident.md", INCIDENT.encode())
    save_run(ctx, ws, propose(ctx, ws, ["soc2-tsc-2017"]))
    proposals = list_proposals(ctx, ws, limit=500)
    key, _ = create_key(ctx, Role.reviewer, ws, name="Rita Reviewer")
    with web.serve(ctx) as url:
        yield {"url": url, "key": key,
               "flagged": next(p.id for p in proposals if p.flags),
               "plain": next(p.id for p in proposals if not p.flags)}
    ctx.close()


def test_the_review_page_warns_on_instruction_like_evidence(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(web.CHROMIUM), args=web.ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 820})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        web.sign_in(page, server, "key", WS)
        page.goto(f"{server['url']}/w/{WS}/review?status=all")
        page.click(f'#queue .item[data-id="{server["flagged"]}"]')
        page.wait_for_selector(f'#detail .d-head[data-id="{server["flagged"]}"]')
        warning = page.locator('#detail [role="alert"]', has_text="instructions to a reviewer or a model")
        assert warning.count() == 1
        page.click(f'#queue .item[data-id="{server["plain"]}"]')
        page.wait_for_selector(f'#detail .d-head[data-id="{server["plain"]}"]')
        assert page.locator('#detail [role="alert"]', has_text="instructions").count() == 0
        browser.close()
    assert not errors
