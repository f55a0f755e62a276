"""The review queue at 1,200 proposals in real headless Chromium at 800 x 900: page through it, filter it,
bulk-approve the 100 proposals matching a filter and see the counts change (100 audit events); a clause's
candidates side by side, settled in one go; not applicable with a reason; the decision buttons never cover the
rationale. Launch and screenshots as in test_web_browser.py."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from rag.auth import Role, create_key
from rag.store import AuditRow, ProposalRow
from tests.seed_queue import seed
from tests.test_web_browser import ARGS, CHROMIUM, pytestmark, serve, shoot  # noqa: F401 - the same skip rule

WS = "big"
N = 1200
# seed_queue gives confidence 0.2 + 0.0075 k to proposal i, k = 37 i mod 100, and method i mod 3; over 1,200
# proposals each (k, method) pair occurs 4 times, so "llm, confidence at most 0.38" (k <= 24) matches 100.
FILTER = {"method": "llm", "max_confidence": "0.38"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from rag.context import Context
    from rag.settings import Settings

    ctx = Context(Settings.load("offline", data_dir=tmp_path_factory.mktemp("queue") / "data"))
    seed(ctx, ctx.workspace(WS, create=True), N)
    key, _ = create_key(ctx, Role.reviewer, WS, name="Priya Raman")
    with serve(ctx) as url:
        yield {"url": url, "key": key, "ctx": ctx}
    ctx.close()


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        tab = browser.new_page(viewport={"width": 800, "height": 900})
        tab.errors = []
        tab.on("pageerror", lambda e: tab.errors.append(str(e)))
        tab.goto(f"{server['url']}/signin?next=/w/{WS}/review")
        tab.fill("#key", server["key"])
        tab.click("button[type=submit]")
        tab.wait_for_url(f"**/w/{WS}/review")
        yield tab
        browser.close()


def tab_count(page, tab: str) -> int:
    return int(page.text_content(f'.tab-n[data-tab="{tab}"]'))


def stored(ctx, status: str) -> int:
    with ctx.store.session() as s:
        return s.scalar(select(func.count(ProposalRow.id)).where(ProposalRow.workspace == WS,
                                                                 ProposalRow.status == status))


def approvals(ctx) -> int:
    with ctx.store.session() as s:
        return s.scalar(select(func.count(AuditRow.seq)).where(AuditRow.workspace == WS,
                                                               AuditRow.action == "proposal.approve"))


def test_page_filter_and_bulk_approve_a_hundred(page, server):
    ctx = server["ctx"]
    page.wait_for_selector("#detail .d-head")
    assert tab_count(page, "queue") == N and page.get_attribute("#queue-count", "data-total") == str(N)
    assert page.locator("#queue .item").count() == 50
    shoot(page, "queue-800x900")
    _buttons_never_cover_the_rationale(page)

    seen = set()
    for _ in range(3):  # page forward: new proposals every time, the total unchanged
        ids = set(page.locator("#queue .item").evaluate_all("items => items.map(i => i.dataset.id)"))
        assert ids and not ids & seen
        seen |= ids
        page.click("#next-page")
        page.wait_for_selector("#queue .item")
    assert "151–200 of" in page.text_content("#queue-count")

    page.click(".more-filters summary")
    page.select_option("select[name=method]", FILTER["method"])
    page.fill("input[name=max_confidence]", FILTER["max_confidence"])
    page.click("#filters .filter-row button[type=submit]")
    page.wait_for_url("**method=llm**")
    assert page.get_attribute("#queue-count", "data-total") == "100"
    assert set(page.locator("#queue .item .method").all_text_contents()) == {"llm"}

    before = approvals(ctx)
    page.check("#bulk-all")
    assert page.text_content("#bulk-approve") == "Approve 100"
    page.fill("#bulk-comment", "Every one cites the quarterly review register.")
    page.click("#bulk-approve")
    page.wait_for_selector("#toast.show")
    assert page.text_content("#toast").startswith("Approved 100 · skipped 0")
    page.wait_for_function("() => document.querySelector('.tab-n[data-tab=\"approved\"]').textContent === '100'")
    open_now = stored(ctx, "proposed")  # 1,100 and the crosswalk suggestions the approvals made
    assert N - 100 < open_now < N - 50
    page.wait_for_function(f"() => document.querySelector('.tab-n[data-tab=\"queue\"]').textContent === '{open_now}'")
    assert page.locator("#queue .item.done").count() == 50
    page.wait_for_timeout(200)
    shoot(page, "queue-bulk-approved")
    assert approvals(ctx) - before == 100
    assert stored(ctx, "approved") == 100

    page.goto(f"{server['url']}/w/{WS}/review")
    assert tab_count(page, "queue") == open_now and tab_count(page, "approved") == 100
    assert not page.errors


def test_clause_candidates_side_by_side_and_not_applicable(page, server):
    page.goto(f"{server['url']}/w/{WS}/review?framework=soc2&clause=CC6.2&status=all&view=clause")
    page.wait_for_selector("#detail .candidates .candidate")
    cards = page.locator("#detail .candidate")
    n = cards.count()
    assert n > 1
    shoot(page, "queue-clause")
    cards.nth(n - 1).locator("button.settle").click()
    page.wait_for_selector("#toast.show")
    assert f"{n - 1} other candidate" in page.text_content("#toast")
    page.wait_for_function("() => document.querySelectorAll('#detail .candidate.st-rejected').length > 0")
    assert page.locator("#detail .candidate.st-approved").count() == 1

    page.goto(f"{server['url']}/w/{WS}/review?framework=soc2&clause=P4.1&status=all&view=clause")
    page.wait_for_selector("#detail .na button")
    page.click("#detail .na button")
    page.click("#detail .na-form button[type=submit]")  # no reason yet: refused
    assert page.locator("#detail .na.on").count() == 0
    page.fill("#detail .na-form textarea", "We hold no consumer personal data.")
    page.click("#detail .na-form button[type=submit]")
    page.wait_for_selector("#detail .na.on")
    assert "We hold no consumer personal data." in page.text_content("#detail .na.on")
    assert not page.errors


def _buttons_never_cover_the_rationale(page) -> None:
    """At 800 x 900 the decision bar sits in the flow: scrolled anywhere, it never overlaps the rationale."""
    for top in (0, 200, 400, 10_000):
        page.evaluate(f"document.querySelector('.detail').scrollTop = {top}")
        overlap = page.evaluate("""() => {
            const a = document.querySelector('#detail .rationale').getBoundingClientRect();
            const b = document.querySelector('#detail .actions').getBoundingClientRect();
            return !(a.bottom <= b.top || b.bottom <= a.top || a.right <= b.left || b.right <= a.left);
        }""")
        assert not overlap
