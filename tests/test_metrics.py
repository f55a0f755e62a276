"""Metrics pinned on small cases computed by hand."""

import pytest

from evals.metrics import average_precision, cohen_kappa, mean_average_precision, pair_scores, recall_at


def test_average_precision_by_hand():
    # relevant at ranks 1 and 3: (1/1 + 2/3) / 2
    assert average_precision(["a", "x", "b", "y"], {"a", "b"}) == pytest.approx((1 + 2 / 3) / 2)
    # one relevant document never retrieved counts zero: (1/2) / 2
    assert average_precision(["x", "a"], {"a", "missing"}) == pytest.approx(0.25)
    assert average_precision([], {"a"}) == 0.0


def test_map_and_recall_at_k():
    rankings = {"c1": ["a", "b", "c"], "c2": ["c", "b", "a"]}
    gold = {"c1": {"a"}, "c2": {"a", "b"}}
    # c1 AP = 1; c2: b at 2 (1/2), a at 3 (2/3) -> (1/2 + 2/3)/2 = 7/12
    assert mean_average_precision(rankings, gold) == pytest.approx((1 + 7 / 12) / 2)
    assert recall_at(rankings, gold, 1) == pytest.approx((1 + 0) / 2)
    assert recall_at(rankings, gold, 2) == pytest.approx((1 + 0.5) / 2)
    assert recall_at(rankings, gold, 3) == pytest.approx(1.0)


def test_pair_scores_and_kappa_by_hand():
    gold = {"c1": {"a"}, "c2": {"b"}}
    docs = ["a", "b", "c", "d"]  # universe: 2 controls x 4 documents = 8 pairs
    s = pair_scores({("c1", "a"), ("c1", "b"), ("c2", "c")}, gold, docs)
    assert (s.tp, s.fp, s.fn, s.tn) == (1, 2, 1, 4)
    assert s.precision == pytest.approx(1 / 3) and s.recall == pytest.approx(1 / 2)
    assert s.f1 == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    # kappa: po = 5/8; pe = (3/8)(2/8) + (5/8)(6/8) = 36/64; (40/64 - 36/64) / (28/64) = 1/7
    assert s.kappa == pytest.approx(1 / 7)


def test_kappa_extremes():
    assert cohen_kappa(5, 0, 0, 5) == pytest.approx(1.0)
    assert cohen_kappa(0, 5, 5, 0) == pytest.approx(-1.0)
    assert cohen_kappa(0, 0, 0, 0) == 0.0


def test_pairs_outside_labeled_controls_are_ignored():
    s = pair_scores({("unlabeled", "a"), ("c1", "a")}, {"c1": {"a"}}, ["a", "b"])
    assert (s.tp, s.fp) == (1, 0)


def test_reliability_bins_and_expected_calibration_error():
    import numpy as np

    from evals.reliability import bins, expected_calibration_error

    confidence = np.array([0.05, 0.05, 0.05, 0.05, 0.95, 0.95])
    labeled = np.array([0, 0, 0, 1, 1, 0])
    table = bins(confidence, labeled)
    assert [(b.low, b.high, b.pairs) for b in table] == [(0.0, 0.1, 4), (0.9, 1.0, 2)]
    assert table[0].labeled_share == 0.25 and table[1].labeled_share == 0.5
    # |0.05 - 0.25| over 4 pairs and |0.95 - 0.5| over 2 pairs: (4 * 0.2 + 2 * 0.45) / 6
    assert abs(expected_calibration_error(table) - (4 * 0.2 + 2 * 0.45) / 6) < 1e-9
    assert expected_calibration_error([]) == 0.0
