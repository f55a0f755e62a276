"""A mapping run's per-clause ranking is two arrays, read as the (document id, confidence) pairs, best first,
that every consumer (saved evidence, superseding, gaps, evaluation) reads."""

from __future__ import annotations

import numpy as np

from rag.mapping import Ranking


def test_a_ranking_reads_as_pairs_best_first():
    documents = np.array([7, 3, 9, 4])
    confidence = np.array([0.2, 0.9, 0.5, 0.9], dtype=np.float32)
    ranking = Ranking.of(documents, confidence)
    expected = [(3, float(np.float32(0.9))), (4, float(np.float32(0.9))), (9, float(np.float32(0.5))),
                (7, float(np.float32(0.2)))]
    assert list(ranking) == expected
    assert ranking[0] == expected[0] and ranking[-1] == expected[-1]
    assert ranking[:2] == expected[:2] and dict(ranking[:2]) == {3: expected[0][1], 4: expected[1][1]}
    assert len(ranking) == 4 and bool(ranking)
    assert all(type(d) is int and type(c) is float for d, c in ranking)
    for rank, (doc, conf) in enumerate(ranking[:3], 1):
        assert (doc, conf) == expected[rank - 1]


def test_an_empty_ranking_is_falsy():
    ranking = Ranking.of(np.array([], dtype=np.int64), np.array([], dtype=np.float32))
    assert not ranking and list(ranking) == [] and ranking[:5] == []


def test_a_run_ranks_every_document_of_each_clause(ctx):
    from rag.ingest.pipeline import ingest_paths
    from rag.mapping import propose
    from rag.samples import sample_dir

    ws = ctx.workspace("acme", create=True)
    with sample_dir() as sample:
        ingest_paths(ctx, ws, [str(sample / "policies")])
    run = propose(ctx, ws, ["soc2"])
    documents = run.stats["documents"]
    for key, ranking in run.rankings.items():
        confidences = [c for _, c in ranking]
        assert len(ranking) == documents and confidences == sorted(confidences, reverse=True), key
    for gap in run.gaps:
        best_doc, best_conf = run.rankings[f"{gap.framework}:{gap.clause_id}"][0]
        assert best_conf == gap.best_confidence
