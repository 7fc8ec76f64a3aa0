"""The ranking pipeline (engine.ranking), which serving and `evaluate` share."""

from __future__ import annotations

import numpy as np
import pytest

from recommendation_engine.engine import ensemble, hybrid, ranking
from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine.ranking import Blend, ItemLists
from recommendation_engine.service.offline_evaluation import RANKED, algorithm_scorers
from tests.engine.fixtures import attribute_taste, chain_log

rng = np.random.default_rng(11)
COLLABORATIVE = np.where(rng.random(60) < 0.7, rng.random(60) * 5, 0.0)
CONTENT = rng.random(60) * 0.4


@pytest.mark.parametrize(
    "blend", [Blend("collaborative"), Blend("content_based"), Blend("hybrid", 0.6, 0.4)]
)
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


SEQUENTIAL_ONLY = ensemble.BlendWeights(1.0, 0.0, 0.0)


def test_a_history_sums_its_neighbour_lists_as_the_model_scores_it() -> None:
    log = chain_log()
    model = knn.fit(log)
    config = ensemble.EnsembleConfig(sequential=model.config)
    items = np.array([4, 9, 10, 11, 30])
    lists = [ItemLists(model.neighbours_of(i)) for i in items]
    scored = ranking.score_history(items, np.ones(len(items)), lists, config, SEQUENTIAL_ONLY)
    expected = knn.score_items(model, items, np.ones(len(items)))
    positive = np.flatnonzero(expected > 0)
    np.testing.assert_array_equal(np.sort(scored.items), positive)
    np.testing.assert_allclose(
        scored.scores[np.argsort(scored.items)], expected[positive] / expected.max(), rtol=1e-6
    )
    # entries without a list, or with no weight, add nothing and are never named
    partial = ranking.score_history(
        items,
        np.array([1.0, 0.0, 1, 1, 1]),
        [ItemLists(), *lists[1:]],
        config,
        SEQUENTIAL_ONLY,
        seen=np.array([12]),
    )
    assert 12 not in partial.items.tolist()
    named = partial.because(partial.items.tolist())
    assert named and not {0, 1} & {e for entries in named.values() for e in entries}


def test_because_names_the_entries_that_contributed_most() -> None:
    lists = [
        ItemLists((np.array([1, 2], np.int32), np.array([1.0, 0.1], np.float32))),
        ItemLists((np.array([1, 3], np.int32), np.array([0.5, 1.0], np.float32))),
        ItemLists((np.array([1], np.int32), np.array([2.0], np.float32))),
        ItemLists((np.array([1], np.int32), np.array([0.01], np.float32))),
    ]
    scored = ranking.score_history(
        np.array([10, 11, 12, 13]), np.ones(4), lists, ensemble.EnsembleConfig(), SEQUENTIAL_ONLY
    )
    because = scored.because([1, 3, None, 99, 1])
    assert because == {1: [2, 0, 1], 3: [1]}  # at most three, the largest first


# -- personalised lists from item lists -------------------------------------------------


@pytest.mark.parametrize(
    "weights",
    [
        ensemble.BlendWeights(0.5, 0.3, 0.2, 3.0),
        ensemble.BlendWeights(1.0, 0.0, 0.0),
        ensemble.BlendWeights(0.0, 0.0, 1.0),
        ensemble.BlendWeights(0.7, 0.3, 0.0),
    ],
)
def test_lists_score_a_history_as_the_model_scores_it(weights: ensemble.BlendWeights) -> None:
    log, vectors = attribute_taste()
    all_sources = ensemble.BlendWeights(0.4, 0.3, 0.3)
    model = ensemble.fit(log, vectors, ensemble.EnsembleConfig(weights=all_sources))
    model.config = ensemble.EnsembleConfig(weights=weights)
    for user in range(0, 40, 7):
        mine = log.users == user
        items, history_weights = log.items[mine], log.weights[mine].astype(np.float64)
        history_weights[::5] = 0.0  # weightless entries count for nothing, as in training
        seen = np.unique(items)
        expected = ensemble.score_items(
            model, items[history_weights > 0], history_weights[history_weights > 0], seen
        )
        scored = ranking.score_history(
            items,
            history_weights,
            ranking.ModelLists(model).of(items),
            model.config,
            weights,
            seen,
        )
        positive = np.flatnonzero(np.isfinite(expected) & (expected > 0))
        np.testing.assert_array_equal(np.sort(scored.items), positive)
        np.testing.assert_allclose(
            scored.scores[np.argsort(scored.items)], expected[positive], rtol=1e-5
        )
        top = scored.items[scored.top(10)]
        order = np.lexsort((positive, -expected[positive]))
        assert top.tolist() == positive[order][:10].tolist()
        assert not set(top.tolist()) & set(seen.tolist())


def test_a_request_weight_splits_collaborative_by_the_tuned_proportion() -> None:
    tuned = ensemble.BlendWeights(0.6, 0.2, 0.2, 3.0)
    assert ranking.source_weights(Blend("hybrid"), tuned) == tuned
    assert ranking.source_weights(Blend("hybrid", 0.5, 0.5), tuned) == ensemble.BlendWeights(
        0.375, 0.125, 0.5, 3.0
    )
    assert ranking.source_weights(Blend("collaborative"), tuned) == ensemble.BlendWeights(
        0.75, 0.25, 0.0, 3.0
    )
    assert ranking.source_weights(Blend("content_based"), tuned).content == 1.0


def test_evaluate_ranks_each_user_as_the_pipeline_does() -> None:
    log, vectors = attribute_taste()
    config = ensemble.EnsembleConfig(weights=ensemble.BlendWeights(0.5, 0.3, 0.2))
    model = ensemble.fit(log, vectors, config)
    scorers = algorithm_scorers(model, log)
    assert set(scorers) == {"most_popular", "collaborative", "content_based", "hybrid"}
    users = np.arange(0, 30, 3)
    rows = scorers["hybrid"](users)
    for row, user in zip(rows, users.tolist(), strict=True):
        mine = log.users == user
        items, weights = log.items[mine], log.weights[mine]
        scored = ranking.score_history(
            items, weights, ranking.ModelLists(model).of(items), config, config.weights, items
        )
        listed = np.flatnonzero(np.isfinite(row))
        listed = listed[np.argsort(-row[listed], kind="stable")]
        assert listed.tolist() == scored.items[scored.top(RANKED)].tolist()
        assert not set(listed.tolist()) & set(items.tolist())


def test_the_best_few_are_the_head_of_the_whole_order_ties_by_item() -> None:
    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.1, 0.9, 0.5])
    items = np.array([40, 7, 3, 12, 1, 2, 30])
    scored = ranking.Scored(items, scores, scores, np.zeros(7))
    whole = scored.top()
    assert items[whole].tolist() == [2, 7, 3, 12, 30, 40, 1]
    for limit in range(1, 8):
        assert scored.top(limit).tolist() == whole[:limit].tolist()


@pytest.mark.parametrize("limit", [1, 10, 99, 499])
def test_the_best_few_of_many_tied_scores_are_the_head_of_the_whole_order(limit: int) -> None:
    generator = np.random.default_rng(limit)
    scores = generator.integers(1, 20, 500) / 20  # many ties
    items = generator.permutation(10_000)[:500]
    scored = ranking.Scored(items, scores, scores, np.zeros(500))
    assert scored.top(limit).tolist() == scored.top()[:limit].tolist()


SEQUENTIAL = (np.array([5, 3, 9, 4, 8, 2]), np.array([6.0, 5.0, 4.0, 3.0, 2.0, 1.0]))
SIMILAR = (np.array([7, 3, 5, 6, 1]), np.array([0.9, 0.2, 0.8, 0.95, 0.6]))


def test_similar_offers_leave_the_entity_out_and_hold_the_depth() -> None:
    offered = ranking.offer_similar(5, SEQUENTIAL, SIMILAR, 0.5, 2, Blend("hybrid", 0.5, 0.5))
    # the first two sequential entries after the entity itself (5); the two most similar
    # content neighbours at or above the threshold, the entity left out
    assert set(offered.items.tolist()) == {3, 9, 6, 7}
    scores = offered.blended.scores[offered.order]
    assert np.all(np.diff(scores) <= 0) and np.all(scores > 0)
    assert offered.order.size == offered.items.size


def test_similar_scores_do_not_depend_on_the_depth() -> None:
    """Deeper offers (when filters thin the first ones out) add candidates: each source
    is still scaled by its best offer, so the first candidates keep their scores."""
    blend = Blend("hybrid", 0.6, 0.4)
    shallow = ranking.offer_similar(None, SEQUENTIAL, SIMILAR, 0.5, 2, blend)
    deep = ranking.offer_similar(None, SEQUENTIAL, SIMILAR, 0.5, 6, blend)
    deep_scores = dict(zip(deep.items.tolist(), deep.blended.scores.tolist(), strict=True))
    for item, score in zip(shallow.items.tolist(), shallow.blended.scores.tolist(), strict=True):
        assert deep_scores[item] == pytest.approx(score)


def test_similar_content_scores_are_cosine_similarities_above_the_threshold() -> None:
    offered = ranking.offer_similar(
        None, SEQUENTIAL, SIMILAR, 0.5, 10, Blend("content_based"), cosine={9: 0.7, 4: 0.1}
    )
    scores = dict(zip(offered.items.tolist(), offered.blended.scores.tolist(), strict=True))
    assert scores[7] == pytest.approx(0.9) and scores[6] == pytest.approx(0.95)
    assert scores[9] == pytest.approx(0.7)  # a collaborative neighbour's known similarity
    assert scores[4] == 0.0 and scores[3] == 0.0  # below the threshold
    assert {int(offered.items[p]) for p in offered.order} == {7, 5, 6, 1, 9}


def test_an_offered_item_scores_from_the_whole_of_each_list() -> None:
    """An item offered by its content similarity keeps its collaborative score though it
    sits deeper in the sequential list than the offers reach."""
    similar = (np.array([2, 7]), np.array([0.9, 0.8]))
    offered = ranking.offer_similar(None, SEQUENTIAL, similar, 0.5, 2, Blend("hybrid", 0.5, 0.5))
    assert set(offered.items.tolist()) == {5, 3, 2, 7}
    scores = dict(zip(offered.items.tolist(), offered.blended.scores.tolist(), strict=True))
    # item 2: the last sequential entry (1.0 against the best, 6.0), and the best content
    assert scores[2] == pytest.approx(0.5 * 1.0 / 6.0 + 0.5 * 1.0)
    assert scores[7] == pytest.approx(0.5 * (0.8 / 0.9) ** hybrid.CONTENT_SHARPNESS)
