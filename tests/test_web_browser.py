"""The reviewer's pages in real headless Chromium (Debian's `chromium`, driven by Playwright) against a
uvicorn server on 127.0.0.1: sign in with a key, approve a proposal from the queue with the keyboard, and
see coverage change; a changed policy shows its drift; markup inside a policy stays text. Screenshots go to
$CTRLMAP_SCREENSHOTS (default: a folder in the system temp dir); run with
CTRLMAP_SCREENSHOTS=evals/reports/screenshots to refresh the committed ones."""

from __future__ import annotations

import os
from contextlib import contextmanager
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from rag.auth import Role, create_key
from rag.ingest.pipeline import ingest_bytes
from rag.models import Action, Status
from rag.review import apply_drift, decide, get_proposal, list_proposals
from rag.samples import add_manual, sample_dir
from tests.test_web import HOSTILE, HOSTILE_NAME, HOSTILE_QUOTE

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(os.environ.get("CTRLMAP_SCREENSHOTS") or Path(tempfile.gettempdir()) / "ctrlmap-screenshots")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                                                      reason="Debian's chromium is not installed")]


def shoot(page, name: str) -> None:
    """A screenshot, stored as a 256-colour PNG (a third of the size; these are committed)."""
    from PIL import Image

    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=path)
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def _drift_one(ctx, workspace: str) -> int:
    """Approve an access-control mapping, then ingest a version of the policy without its quote."""
    with sample_dir() as sample:
        source = (sample / "policies" / "access-control-policy.md").read_text(encoding="utf-8")
    for p in list_proposals(ctx, workspace, framework="soc2-tsc-2017", limit=10**5):
        quote = p.citations[0].quote if p.citations else ""
        if p.document_name == "access-control-policy.md" and quote and quote in source:
            if p.status != Status.approved:
                decide(ctx, workspace, p.id, "priya", Action.approve, "fits")
            ingest_bytes(ctx, workspace, p.document_name, source.replace(quote, "").encode())
            apply_drift(ctx, workspace, p.document_id, "ctrlmap")
            return p.id
    raise AssertionError("no access-control citation found verbatim in the policy source")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from rag.context import Context
    from rag.demo import run_demo
    from rag.settings import Settings

    base = tmp_path_factory.mktemp("browser")
    ctx = Context(Settings.load("offline", data_dir=base / "data"))
    run_demo(ctx, base / "out")
    drifted = _drift_one(ctx, "demo")
    untrusted = ctx.workspace("untrusted", create=True)
    ingest_bytes(ctx, untrusted, HOSTILE_NAME, HOSTILE.encode())
    hostile = add_manual(ctx, untrusted, "soc2-tsc-2017", "CC6.8", HOSTILE_NAME, [HOSTILE_QUOTE], "seed")
    key, _ = create_key(ctx, Role.reviewer, "demo", name="Priya Raman")
    untrusted_key, _ = create_key(ctx, Role.reviewer, untrusted, name="Sam Tester")
    admin_key, _ = create_key(ctx, Role.admin, "demo", name="Alex Admin")
    target = (_uncovered_proposal(ctx, "demo", "iso27001-2022"), "iso27001-2022")
    clause = get_proposal(ctx, "demo", target[0]).clause_id
    with serve(ctx) as url:
        yield {"url": url, "key": key, "drifted": drifted, "hostile": hostile, "target": target,
               "target_clause": clause, "untrusted_key": untrusted_key, "admin_key": admin_key}
    ctx.close()


@contextmanager
def serve(ctx):
    """The app on a free port of 127.0.0.1 in a uvicorn thread, for as long as the block runs; yields its URL."""
    import uvicorn

    from api.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(create_app(ctx=ctx), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    for _ in range(400):
        if uv.started:
            break
        time.sleep(0.025)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(10)


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        tab = browser.new_page(viewport={"width": 1360, "height": 820})
        tab.dialogs, tab.errors = [], []
        tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
        tab.on("pageerror", lambda e: tab.errors.append(str(e)))
        yield tab
        browser.close()


def _uncovered_proposal(ctx, workspace: str, framework: str) -> int:
    """A proposal awaiting review for a clause no approved mapping covers yet."""
    proposals = list_proposals(ctx, workspace, framework=framework, limit=10**5)
    covered = {p.clause_id for p in proposals if p.status == Status.approved}
    return next(p.id for p in proposals if p.status == Status.proposed and p.clause_id not in covered
                and p.citations)


def sign_in(page, server, key: str = "key", workspace: str = "demo") -> None:
    page.goto(f"{server['url']}/w/{workspace}/coverage")
    assert "/signin" in page.url
    page.fill("#key", server[key])
    page.click("button[type=submit]")
    page.wait_for_url(f"**/w/{workspace}/coverage")


def counted(page, framework: str) -> tuple[int, int]:
    """(covered or partial, awaiting review) on the coverage page's card for one framework."""
    card = f'.card[data-fw="{framework}"]'
    done = sum(int(page.text_content(f"{card} .n-{kind}")) for kind in ("covered", "partial"))
    return done, int(page.text_content(f"{card} .n-awaiting"))


def test_sign_in_approve_from_the_queue_and_see_coverage_change(page, server):
    target, framework = server["target"]
    page.goto(server["url"] + "/signin")
    shoot(page, "signin")
    sign_in(page, server)
    before = counted(page, framework)
    page.goto(server["url"] + "/w/demo/review")
    page.wait_for_selector("#detail .d-head")
    assert page.text_content("#detail mark")  # the cited quote, highlighted in its document context
    shoot(page, "review")
    first = page.get_attribute("#queue .item.sel", "data-id")
    page.keyboard.press("j")
    assert page.get_attribute("#queue .item.sel", "data-id") != first
    page.keyboard.press("k")
    assert page.get_attribute("#queue .item.sel", "data-id") == first

    page.goto(f"{server['url']}/w/demo/review?framework={framework}&clause={server['target_clause']}")  # paged queue
    item = page.locator(f'#queue .item[data-id="{target}"]')
    item.click()
    page.wait_for_selector(f'#detail .d-head[data-id="{target}"]')
    pill = page.text_content(f'.pill[data-fw="{framework}"] .pill-sub')
    page.keyboard.press("c")
    page.keyboard.type("The policy states this control; approved.")
    page.keyboard.press("Enter")
    page.keyboard.press("a")
    page.wait_for_selector("#toast.show")
    assert page.text_content("#toast").startswith("Approved")
    assert item.get_attribute("data-status") == "approved"
    page.wait_for_function("([fw, old]) => document.querySelector(`.pill[data-fw=\"${fw}\"] .pill-sub`).textContent !== old",
                           arg=[framework, pill])
    page.wait_for_timeout(300)  # let the toast settle for the screenshot
    shoot(page, "review-approved")

    page.goto(server["url"] + "/w/demo/coverage")
    after = counted(page, framework)
    assert after == (before[0] + 1, before[1] - 1)
    shoot(page, "coverage")
    assert not page.errors and not page.dialogs


def test_drift_is_shown_with_the_missing_quote(page, server):
    sign_in(page, server)
    page.goto(server["url"] + "/w/demo/review?status=needs-review")
    page.click(f'#queue .item[data-id="{server["drifted"]}"]')
    page.wait_for_selector("#detail .drift del")
    assert "no longer appears verbatim" in page.text_content("#detail .drift")
    shoot(page, "review-drift")


def test_markup_in_a_policy_stays_text(page, server):
    sign_in(page, server, "untrusted_key", "untrusted")
    page.goto(server["url"] + "/w/untrusted/review?status=all")
    page.click(f'#queue .item[data-id="{server["hostile"]}"]')
    page.wait_for_selector("#detail mark")
    assert page.text_content("#detail mark") == HOSTILE_QUOTE
    assert page.locator("#detail script, #detail img, #detail a[href*='evil']").count() == 0
    assert page.locator("#queue .item", has_text=HOSTILE_NAME).count() == 1
    page.wait_for_timeout(200)
    assert not page.dialogs and not page.errors


def test_other_pages_render(page, server):
    sign_in(page, server)
    for name in ("areas", "narrative#sec-DC5", "documents", "audit"):
        page.goto(f"{server['url']}/w/demo/{name}")
        page.wait_for_selector("main h1")
        name = name.split("#")[0]
        shoot(page, name)
    assert not page.errors and not page.dialogs


def test_admin_uploads_a_policy_and_runs_mapping(page, server, tmp_path):
    policy = tmp_path / "asset-register-standard.md"
    policy.write_text("# Asset Register Standard\n\n## Inventory\n\nEvery production system, data store and AI model "
                      "is recorded in the asset register with a named owner, and the register is reviewed each "
                      "quarter.\n", encoding="utf-8")
    sign_in(page, server, "admin_key")
    page.goto(server["url"] + "/w/demo/documents")
    page.set_input_files("#upload-file", str(policy))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-result .notice.good")
    assert "asset-register-standard.md ingested" in page.text_content("#upload-result")
    page.click("#run-mapping")
    page.wait_for_function("() => document.querySelector('#job-status').textContent.startsWith('done')",
                           timeout=120_000)
    assert page.get_attribute("#job-fill", "width") == "100"
    page.reload()
    assert page.locator("td", has_text="asset-register-standard.md").count() == 1
    shoot(page, "documents-admin")
    assert not page.errors and not page.dialogs
