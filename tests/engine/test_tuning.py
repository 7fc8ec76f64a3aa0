"""Per-tenant tuning: the validation split, the pair cache, the search and its guarantees."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

from recommendation_engine.engine import ensemble, tuning
from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine.evaluation import evaluate
from recommendation_engine.engine.log import InteractionLog
from tests.engine.fixtures import attribute_taste, chain_log
from tests.engine.test_sequential_knn import random_log


def test_the_last_ceil_fifth_of_each_user_is_held_out() -> None:
    sizes = {0: 1, 1: 2, 2: 5, 3: 6, 4: 20, 5: 21}
    users = np.repeat(list(sizes), list(sizes.values()))
    log = InteractionLog.build(users, np.arange(len(users)) % 7, times=np.arange(len(users)))
    train, held = tuning.temporal_holdout(log)
    held_counts = np.bincount(held.users, minlength=6)
    assert held_counts.tolist() == [0, 1, 1, 2, 4, 5]
    for user in sizes:  # the held-out rows are each user's latest
        if held_counts[user]:
            assert train.times[train.users == user].max() < held.times[held.users == user].min()


@pytest.mark.parametrize(
    ("window", "decay", "backward"), [(1, 10.0, 1.0), (4, 2.0, 0.5), (9, 30.0, 0.25)]
)
def test_the_pair_cache_sums_what_a_fit_counts(window: int, decay: float, backward: float) -> None:
    log = random_log(11, 3000, 120, 150)
    cache = tuning.PairCache(log, 9)
    config = replace(knn.SequentialKNNConfig(), window=window, decay=decay, backward=backward)
    expected = knn._cooccurrence(log, config, None)
    summed = cache.summed(window, decay, backward)
    assert summed.nnz == expected.nnz
    np.testing.assert_allclose(summed.toarray(), expected.toarray(), rtol=1e-5)
    again = cache.summed(9, decay, backward)  # the shared structure is left intact
    np.testing.assert_allclose(
        again.toarray(),
        knn._cooccurrence(log, replace(config, window=9), None).toarray(),
        rtol=1e-5,
    )


def test_validation_metrics_agree_with_the_offline_evaluation() -> None:
    log = random_log(12, 4000, 80, 200)
    train, held = tuning.temporal_holdout(log)
    validation = tuning.Validation(train, held, max_users=10_000)
    scores = np.random.default_rng(1).random((validation.users.size, log.n_items))
    rows = {int(u): r for r, u in enumerate(validation.users)}

    def scorer(users: np.ndarray) -> np.ndarray:
        return np.vstack([scores[rows[int(u)]] for u in users])

    expected = evaluate(scorer, train, held.select(np.isin(held.users, validation.users)))
    got = validation.metrics(validation.mask(scores.copy()))
    assert got["ndcg@10"] == pytest.approx(expected["ndcg@10"], abs=1e-4)
    assert got["recall@10"] == pytest.approx(expected["recall@10"], abs=1e-4)
    # The same rows, sparse (what the tuning scores), measure the same.
    assert validation.sparse_metrics(sp.csr_matrix(scores)) == got


def test_sparse_rows_rank_ties_by_item_leaving_out_seen_and_unscored_items() -> None:
    log = InteractionLog.build(
        np.array([0, 0, 0, 1, 1, 1]), np.array([0, 1, 5, 2, 3, 4]), n_items=8
    )
    train, held = tuning.temporal_holdout(log)  # held out: item 5 of user 0, 4 of user 1
    validation = tuning.Validation(train, held, max_users=10)
    scores = sp.csr_matrix(
        np.array(
            [
                [9.0, 0.0, 0.5, 0.5, 0.0, 0.5, -1.0, 0.5],  # items 0 and 1 seen
                [0.0, 0.0, 3.0, 0.0, 1.0, 0.0, 0.0, 2.0],  # items 2 and 3 seen
            ]
        )
    )
    columns, best = validation.top(scores, 5)
    assert columns.tolist() == [[2, 3, 5, 7, -1], [7, 4, -1, -1, -1]]
    assert best[1].tolist() == [2.0, 1.0, -np.inf, -np.inf, -np.inf]
    # User 0's hit (item 5) ranks third among equal scores; user 1's second.
    discount = 1 / np.log2(np.arange(2, 12))
    expected = (discount[2] + discount[1]) / 2
    assert validation.sparse_metrics(scores)["ndcg@10"] == pytest.approx(expected)


def test_a_catalogue_of_millions_still_validates_on_every_user() -> None:
    n_items = 2_000_000
    rng = np.random.default_rng(5)
    users = np.repeat(np.arange(3000), 8)
    items = rng.integers(0, 300, users.size) * 6_000  # spread over the whole catalogue
    log = InteractionLog.build(users, items, times=np.arange(users.size), n_items=n_items)
    tuned = tuning.tune(log, max_users=2000)
    assert tuned.users == 2000
    check_guarantees(tuned)


def check_guarantees(tuned: tuning.Tuning) -> None:
    chosen = tuned.validation["chosen"]["ndcg@10"]
    for name in ("default", "sequential", "long_term", "content"):
        if name in tuned.validation:
            assert chosen >= tuned.validation[name]["ndcg@10"]


def test_tuning_a_sequential_log_improves_on_the_defaults() -> None:
    log = chain_log(n_users=400, n_items=80, length=14)
    tuned = tuning.tune(log)
    check_guarantees(tuned)
    assert tuned.validation["chosen"]["ndcg@10"] >= tuned.validation["default"]["ndcg@10"]
    assert tuned.config.weights.sequential > 0
    assert tuned.trials[0]["stage"] == "default" and len(tuned.trials) > 5
    model = tuning.fit(log, None, tuned.config)  # the chosen model trains on the whole log
    assert model.sequential.config == tuned.config.sequential


def test_tuning_picks_content_where_attributes_decide_taste() -> None:
    log, vectors = attribute_taste()
    tuned = tuning.tune(log, vectors)
    check_guarantees(tuned)
    assert tuned.config.weights.content > 0
    assert tuned.validation["chosen"]["ndcg@10"] > tuned.validation["sequential"]["ndcg@10"]
    model = tuning.fit(log, vectors, tuned.config)
    assert model.content is not None


def test_an_exhausted_budget_still_chooses_a_blend() -> None:
    log, vectors = attribute_taste()
    tuned = tuning.tune(log, vectors, budget_seconds=0.0)
    assert [t["stage"] for t in tuned.trials if t["stage"] != "blend"] == ["default"]
    assert tuned.config.sequential == ensemble.default_sequential()
    check_guarantees(tuned)


def test_a_log_without_anything_to_hold_out_keeps_the_defaults() -> None:
    log = InteractionLog.build(np.arange(5), np.arange(5), n_items=5)  # one row per user
    tuned = tuning.tune(log)
    assert tuned.config == replace(ensemble.EnsembleConfig(), weights=ensemble.BlendWeights())
    assert tuned.validation == {}


def test_a_large_log_is_tuned_on_a_sample_of_its_users() -> None:
    log = random_log(13, 6000, 300, 100)
    tuned = tuning.tune(log, max_pair_entries=200_000)
    assert 0 < tuned.sampled < 1
    assert tuned.summary()["sampled"] == tuned.sampled


def test_a_shortlist_holds_every_sources_best_and_scores_like_the_full_rows() -> None:
    log = random_log(14, 3000, 60, 120)
    train, held = tuning.temporal_holdout(log)
    validation = tuning.Validation(train, held, max_users=10_000)
    rng = np.random.default_rng(2)
    parts = {
        name: validation.mask(rng.random((validation.users.size, log.n_items)))
        for name in ("a", "b")
    }
    # A source that reaches few items, some of them scored below zero.
    parts["b"][rng.random(parts["b"].shape) < 0.5] = 0.0
    parts["b"][rng.random(parts["b"].shape) < 0.1] *= -1
    columns, short = validation.shortlist(
        {name: sp.csr_matrix(scores) for name, scores in parts.items()}, 15
    )
    parts = {name: ensemble.normalise_rows(scores) for name, scores in parts.items()}
    for name, scores in parts.items():
        best = np.argsort(-scores, axis=1)[:, :15]
        for row in range(len(best)):
            assert set(best[row].tolist()) <= set(columns[row][columns[row] >= 0].tolist())
        known = columns >= 0
        np.testing.assert_array_equal(
            short[name][known], np.take_along_axis(scores, np.maximum(columns, 0), 1)[known]
        )
        assert np.all(np.isneginf(short[name][~known]))
    # Scoring a blend over the shortlist = the full rows with everything else excluded.
    blended = parts["a"] * 0.7 + parts["b"] * 0.3
    outside = np.ones(blended.shape, bool)
    rows, positions = np.nonzero(columns >= 0)
    outside[rows, columns[rows, positions]] = False
    blended[outside] = -np.inf
    got = validation.metrics(short["a"] * 0.7 + short["b"] * 0.3, columns)
    expected = validation.metrics(blended)
    assert got == pytest.approx(expected)
