"""Finding one's way: framework aliases everywhere a key is taken, only mapped frameworks known as mapped, gap
and clause chips that open their clause, and a document's text by section with its warnings."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.auth import Role, create_key
from rag.errors import CatalogError
from rag.ingest.pipeline import ingest_bytes
from rag.review import mapped_frameworks
from tests.seed_queue import seed
from tests.test_ingest_select import TEMPLATED
from tests.test_web import sign_in

WS = "orient"


@pytest.fixture
def site(ctx):
    seed(ctx, ctx.workspace(WS, create=True), 50)  # one proposal for 50 of the 61 SOC 2 criteria, nothing else
    templated = ingest_bytes(ctx, WS, "backup.md", TEMPLATED.encode())
    key, _ = create_key(ctx, Role.reviewer, WS, name="Ana Reviewer")
    with TestClient(create_app(ctx=ctx)) as client:
        assert sign_in(client, key).status_code in (200, 303)
        yield client, templated.document_id


@pytest.mark.parametrize("alias, key", [("soc2", "soc2-tsc-2017"), ("SOC2", "soc2-tsc-2017"),
                                        ("iso27001", "iso27001-2022"), ("iso42001", "iso42001-2023"),
                                        ("ai-rmf", "nist-ai-rmf-1.0"), ("nist-ai-rmf-1.0", "nist-ai-rmf-1.0")])
def test_framework_aliases(ctx, alias, key):
    assert ctx.catalog.key(alias) == key and ctx.catalog.framework(alias).key == key
    assert ctx.catalog.clause(alias, ctx.catalog.framework(key).clauses[0].id).framework == key


def test_an_unknown_framework_names_the_aliases(ctx):
    with pytest.raises(CatalogError, match="soc2, iso27001, iso42001, ai-rmf"):
        ctx.catalog.key("sox")


def test_only_mapped_frameworks_are_mapped(site):
    client, _ = site
    assert mapped_frameworks(client.app.state.ctx, WS) == {"soc2-tsc-2017"}
    by_alias = client.get(f"/api/workspaces/{WS}/proposals", params={"framework": "soc2", "limit": 5})
    assert by_alias.status_code == 200 and by_alias.headers["x-total-count"] == "50"
    covered = client.get(f"/api/workspaces/{WS}/coverage", params={"framework": ["soc2", "ai-rmf"]}).json()
    assert [f["key"] for f in covered["frameworks"]] == ["soc2-tsc-2017", "nist-ai-rmf-1.0"]
    assert client.get("/api/frameworks/iso42001/clauses").status_code == 200


def test_gap_and_clause_chips_open_their_clause(site):
    client, _ = site
    coverage = client.get(f"/w/{WS}/coverage").text
    links = re.findall(r'href="(/w/orient/review\?status=all&amp;framework=[^"]+&amp;view=clause)"', coverage)
    assert links and all("framework=soc2-tsc-2017" in link for link in links)  # ISO was never mapped: no gaps
    areas = client.get(f"/w/{WS}/areas").text
    assert "clause=CC6.1&amp;view=clause" in areas
    page = client.get(links[0].replace("&amp;", "&"))
    assert page.status_code == 200 and 'id="open-clause"' in page.text


def test_the_documents_page_shows_a_document_by_section_with_its_warnings(site):
    client, doc_id = site
    listing = client.get(f"/w/{WS}/documents").text
    assert f'href="/w/{WS}/documents/{doc_id}"' in listing and "1 warning" in listing
    page = client.get(f"/w/{WS}/documents/{doc_id}").text
    assert "unrendered template placeholders" in page and "{{companyShortName}}" in page
    assert 'href="#s2"' in page and "tests restores every quarter" in page
    assert client.get(f"/w/{WS}/documents/99999").status_code == 404


def test_an_upload_says_it_holds_placeholders(ctx):
    admin, _ = create_key(ctx, Role.admin, None, name="Root Admin")
    ctx.workspace(WS, create=True)
    with TestClient(create_app(ctx=ctx)) as client:
        made = client.post(f"/api/workspaces/{WS}/documents", headers={"Authorization": f"Bearer {admin}"},
                           files={"file": ("backup.md", TEMPLATED.encode())})
    assert made.status_code == 201 and "{{companyShortName}}" in made.json()["warnings"][0]
