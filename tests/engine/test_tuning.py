"""Per-tenant tuning: the validation split, the pair cache, the search and its guarantees."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

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
    columns, short = tuning.shortlist(parts, 15)
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
