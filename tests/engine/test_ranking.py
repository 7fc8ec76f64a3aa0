"""The ranking pipeline (engine.ranking), which serving and `evaluate` share."""

from __future__ import annotations

import numpy as np
import pytest

from recommendation_engine.engine import hybrid, ranking
from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine.ranking import Blend, Contributions
from recommendation_engine.service.offline_evaluation import ranked_scores
from tests.engine.fixtures import chain_log

rng = np.random.default_rng(11)
COLLABORATIVE = np.where(rng.random(60) < 0.7, rng.random(60) * 5, 0.0)
CONTENT = rng.random(60) * 0.4


@pytest.mark.parametrize("blend", [Blend("collaborative"), Blend("content_based"), Blend()])
@pytest.mark.parametrize("count", [1, 7, 100])
def test_rank_holds_count_keeps_positive_scores_and_is_deterministic(
    blend: Blend, count: int
) -> None:
    ranked = ranking.rank(COLLABORATIVE, CONTENT, blend, count)
    assert ranked == ranking.rank(COLLABORATIVE.copy(), CONTENT.copy(), blend, count)
    positive = {
        "collaborative": COLLABORATIVE > 0,
        "content_based": CONTENT > 0,
        "hybrid": (COLLABORATIVE > 0) | (CONTENT > 0),
    }[blend.algorithm]
    assert len(ranked) == min(count, int(positive.sum()))
    assert all(r.score > 0 for r in ranked)
    scores = [r.score for r in ranked]
    assert scores == sorted(scores, reverse=True)
    assert len({r.index for r in ranked}) == len(ranked)


def test_single_sources_rank_by_their_own_scores_with_their_own_reason() -> None:
    alone = ranking.rank(COLLABORATIVE, CONTENT, Blend("collaborative"), 10)
    assert [r.index for r in alone] == np.argsort(-COLLABORATIVE, kind="stable")[:10].tolist()
    assert [r.score for r in alone] == pytest.approx(np.sort(COLLABORATIVE)[::-1][:10])
    assert {r.reason for r in alone} == {"collaborative"}
    by_content = ranking.rank(COLLABORATIVE, CONTENT, Blend("content_based"), 10)
    assert [r.index for r in by_content] == np.argsort(-CONTENT, kind="stable")[:10].tolist()
    assert {r.reason for r in by_content} == {"content"}
    # weights 1/0 of the hybrid give the collaborative order
    pure = ranking.rank(COLLABORATIVE, CONTENT, Blend("hybrid", 1.0, 0.0), 10)
    assert [r.index for r in pure] == [r.index for r in alone]


def test_hybrid_blends_normalised_sources_and_names_the_larger_part() -> None:
    ranked = ranking.rank(COLLABORATIVE, CONTENT, Blend("hybrid", 0.5, 0.5), 60)
    first, second = hybrid.components(COLLABORATIVE, CONTENT, 0.5, 0.5)
    for r in ranked:
        assert r.score == pytest.approx(first[r.index] + second[r.index])
        assert r.reason == ("collaborative" if first[r.index] >= second[r.index] else "content")
    assert {r.reason for r in ranked} == {"collaborative", "content"}
    with pytest.raises(ValueError):
        Blend("hybrid", 0.0, 0.0)


def test_ties_are_broken_by_the_callers_keys() -> None:
    tied = np.array([1.0, 1.0, 1.0])
    keys = [("movie", "b"), ("movie", "c"), ("movie", "a")]
    ranked = ranking.rank(tied, np.zeros(3), Blend("collaborative"), 3, keys)
    assert [keys[r.index][1] for r in ranked] == ["a", "b", "c"]


def test_shortlist_takes_the_best_positive_finite_scores() -> None:
    scores = np.array([0.5, -1.0, np.inf * -1, 3.0, 0.0, 2.0, 1.0])
    assert sorted(ranking.shortlist(scores, 2).tolist()) == [3, 5]
    assert sorted(ranking.shortlist(scores, 10).tolist()) == [0, 3, 5, 6]


def test_contributions_sum_the_neighbour_lists_as_the_model_scores_a_history() -> None:
    log = chain_log()
    model = knn.fit(log)
    items = np.array([4, 9, 10, 11, 30])
    weights = knn.profile_weights(np.ones(len(items)), model.config)
    contributions = Contributions.from_lists([model.neighbours_of(i) for i in items], weights)
    np.testing.assert_allclose(
        contributions.totals(model.n_items),
        knn.score_items(model, items, np.ones(len(items))),
        rtol=1e-6,
    )
    # entries without a list, or with no weight, add nothing
    partial = Contributions.from_lists(
        [None, *(model.neighbours_of(i) for i in items[1:])], np.array([1.0, 0.0, 1, 1, 1])
    )
    assert not np.isin(partial.entry, [0, 1]).any()
    assert partial.totals(model.n_items, leave_out={12}).item(12) == 0.0


def test_because_names_the_entries_that_contributed_most() -> None:
    lists = [
        (np.array([1, 2]), np.array([1.0, 0.1])),
        (np.array([1, 3]), np.array([0.5, 1.0])),
        (np.array([1]), np.array([2.0])),
        (np.array([1]), np.array([0.01])),
    ]
    contributions = Contributions.from_lists(lists, np.ones(4))
    because = contributions.because([1, 3, None, 99])
    assert because == {1: [2, 0, 1], 3: [1]}  # at most three, the largest first


def test_evaluate_lists_are_the_pipelines_over_each_sources_shortlist() -> None:
    collaborative = rng.random(200) * np.where(rng.random(200) < 0.5, 1, 0)
    content_scores = rng.random(200)
    seen = np.array([3, 17, 40])
    blend = Blend("hybrid", 0.6, 0.4)
    row = ranked_scores(collaborative, content_scores, seen, blend, 200)
    listed = np.argsort(-row, kind="stable")[: int(np.isfinite(row).sum())]
    masked = [s.copy() for s in (collaborative, content_scores)]
    for scores in masked:
        scores[seen] = -np.inf
    candidates = np.union1d(*(ranking.shortlist(s, hybrid.per_source(10)) for s in masked))
    expected = ranking.rank(
        masked[0][candidates], masked[1][candidates], blend, 20, candidates.tolist()
    )
    assert listed.tolist() == [int(candidates[r.index]) for r in expected]
    assert not set(listed.tolist()) & set(seen.tolist())
    assert len(listed) == 20
