"""The bundled catalogs: counts the issue names, valid crosswalks, old ISO ids understood, overlays."""

import csv
import json

import pytest

from rag.catalog import Catalog, read_overlay
from rag.errors import CatalogError


@pytest.fixture(scope="module")
def catalog():
    return Catalog.load()


def test_counts(catalog):
    soc2 = catalog.framework("soc2-tsc-2017").counts_by_kind()
    iso = catalog.framework("iso27001-2022").counts_by_kind()
    aims = catalog.framework("iso42001-2023").counts_by_kind()
    rmf = catalog.framework("nist-ai-rmf-1.0").counts_by_kind()
    assert soc2["criterion"] == 61
    assert iso["control"] == 93 and iso["clause"] == 7 and iso["subclause"] > 0
    assert aims["control"] == 38 and aims["clause"] == 7 and aims["subclause"] > 0
    assert rmf == {"function": 4, "category": 19, "subcategory": 72}


def test_every_assessable_clause_has_own_words_description(catalog):
    for key in catalog.primary():
        for clause in catalog.framework(key).assessable():
            assert clause.description and clause.policy_language and len(clause.keywords) >= 5, clause.key


def test_every_crosswalk_id_exists(catalog):
    assert len(catalog.links) > 500
    for link in catalog.links:
        assert catalog.find(link.source_framework, link.source_id), link
        assert catalog.find(link.target_framework, link.target_id), link


def test_iso_2013_ids_are_understood(catalog):
    assert {c.id for c in catalog.translate("iso27001-2013", "A.9")} >= {"A.5.15", "A.8.2", "A.8.5"}
    assert catalog.translate("iso27001-2013", "A.12.1.2")
    assert {c.id for c in catalog.translate("iso27001-2013", "A.16")} >= {"A.5.24", "A.5.26"}


def test_related_clauses_cross_frameworks(catalog):
    related = {c.key for c in catalog.related("soc2-tsc-2017", "CC6.1")}
    assert any(k.startswith("iso27001-2022:") for k in related)
    assert {c.framework for c in catalog.related("nist-ai-rmf-1.0", "GOVERN 1.1")} == {"iso42001-2023"}


def test_overlay_csv_replaces_description(tmp_path):
    path = tmp_path / "official.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "title", "text"])
        writer.writerow(["CC6.1", "x", "Licensed official text for CC6.1."])
        writer.writerow(["CC6.2", "x", "Licensed official text for CC6.2."])
    catalog = Catalog.load([path])
    assert catalog.clause("soc2-tsc-2017", "CC6.1").description == "Licensed official text for CC6.1."
    assert catalog.clause("soc2-tsc-2017", "CC6.1").text_origin.startswith("user catalog")
    assert catalog.version != Catalog.load().version


def test_overlay_oscal(tmp_path):
    oscal = {"catalog": {"uuid": "u", "metadata": {"title": "t"}, "groups": [{"id": "a5", "title": "Org", "controls": [
        {"id": "a-5-1", "title": "Policies", "props": [{"name": "label", "value": "A.5.1"}],
         "params": [{"id": "p1", "label": "review interval"}],
         "parts": [{"name": "statement", "prose": "Policies are reviewed every {{ insert: param, p1 }}."}]}]}]}}
    path = tmp_path / "iso.json"
    path.write_text(json.dumps(oscal))
    items = read_overlay(path)
    assert items[0]["id"] == "A.5.1" and "review interval" in items[0]["text"]
    catalog = Catalog.load([path])
    assert catalog.clause("iso27001-2022", "A.5.1").description.startswith("Policies are reviewed")


def test_overlay_rejects_garbage(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(CatalogError, match="not valid JSON"):
        read_overlay(path)
    path.write_text(json.dumps({"something": 1}))
    with pytest.raises(CatalogError, match="unrecognized catalog"):
        read_overlay(path)


def test_reference_catalog_overlay_adds_points_of_focus(shared_dir):
    catalog = Catalog.load([shared_dir / "reference" / "frameworks" / "soc2_tsc_2017_rev2022.json"])
    cc61 = catalog.clause("soc2-tsc-2017", "CC6.1")
    assert cc61.text_origin.startswith("user catalog") and len(cc61.focus) >= 5
