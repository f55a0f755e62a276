"""The scorer's neighbour prior, on hand-computed cases."""

import numpy as np

from rag.catalog import Catalog
from rag.mapping import with_neighbours
from rag.score import borrow, neighbours


def test_borrow_adds_a_share_of_the_neighbours_own_scores():
    scores = np.array([[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]], np.float32)
    family = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], np.float32)  # rows 0 and 1 are siblings
    crosswalk = np.array([[0, 0, 1], [0, 0, 0], [1, 0, 0]], np.float32)  # row 0 linked to row 2
    out = borrow(scores, family, crosswalk, 0.5, 0.25)
    assert np.allclose(out[0], [1.0 + 0.5 * 0.0 + 0.25 * 4.0, 0.0 + 0.5 * 2.0 + 0.25 * 4.0])
    assert np.allclose(out[1], [0.0 + 0.5 * 1.0, 2.0 + 0.5 * 0.0])
    assert np.allclose(out[2], [4.0 + 0.25 * 1.0, 4.0 + 0.25 * 0.0])
    assert np.array_equal(borrow(scores, family, crosswalk, 0, 0), scores)


def test_neighbours_are_siblings_and_crosswalk_links_with_rows_summing_to_one():
    catalog = Catalog.load()
    soc2 = catalog.framework("soc2-tsc-2017")
    clauses = with_neighbours(catalog, [soc2.clause("CC6.1")])
    assert clauses[0].id == "CC6.1"
    keys = [c.key for c in clauses]
    family, crosswalk = neighbours(clauses, catalog)
    siblings = {keys[j] for j in np.nonzero(family[0])[0]}
    assert siblings == {c.key for c in soc2.assessable() if c.parent == "CC6" and c.id != "CC6.1"}
    linked = {keys[j] for j in np.nonzero(crosswalk[0])[0]}
    assert linked == {c.key for c in catalog.related("soc2-tsc-2017", "CC6.1") if c.assessable}
    assert linked and all(k.startswith("iso27001-2022:") for k in linked)
    assert np.allclose(family[0].sum(), 1.0) and np.allclose(crosswalk[0].sum(), 1.0)
