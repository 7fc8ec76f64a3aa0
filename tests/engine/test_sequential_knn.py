"""The sequence-aware item-kNN model: neighbours, scoring, persistence, quality."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine.evaluation import (
    UserHistories,
    evaluate,
    one_at_a_time,
    temporal_split,
)
from recommendation_engine.engine.log import InteractionLog
from tests.engine.fixtures import chain_log


def small_log() -> InteractionLog:
    # user 0: a b c d, user 1: a b, user 2: c d ; items a=0 b=1 c=2 d=3 e=4 (e unused)
    users = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    items = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    return InteractionLog.build(users, items, times=np.arange(8.0), n_users=3, n_items=5)


def test_items_close_in_time_are_neighbours_and_far_ones_are_not() -> None:
    model = knn.fit(small_log(), replace(knn.SequentialKNNConfig(), window=1))
    neighbours, scores = model.neighbours_of(0)
    assert neighbours.tolist() == [1]  # a is followed by b, never next to c or d
    assert scores[0] > 0
    assert model.neighbours_of(4)[0].size == 0  # an item nobody touched has no neighbours
    wide = knn.fit(small_log(), replace(knn.SequentialKNNConfig(), window=3))
    assert set(wide.neighbours_of(0)[0].tolist()) == {1, 2, 3}
    near, far = (wide.matrix[0, 1], wide.matrix[0, 3])
    assert near > far  # a pair one step apart counts more than three steps apart


def test_backward_weighs_what_came_before_an_item_less_than_what_came_after() -> None:
    # a b c, three times: b is followed by c as often as it follows a.
    log = InteractionLog.build(np.repeat([0, 1, 2], 3), np.tile([0, 1, 2], 3), n_items=3)
    symmetric = knn.fit(log, replace(knn.SequentialKNNConfig(), window=1))
    assert symmetric.matrix[1, 0] == symmetric.matrix[1, 2]
    forward = knn.fit(log, replace(knn.SequentialKNNConfig(), window=1, backward=0.25))
    assert forward.matrix[1, 2] == symmetric.matrix[1, 2]
    assert forward.matrix[1, 0] == pytest.approx(0.25 * symmetric.matrix[1, 0])
    # The whole log's co-occurrence (kept for updates) agrees with the fit's rows.
    summed = knn._cooccurrence(log, forward.config, None).toarray()
    rows = knn._cooccurrence(log, forward.config, np.ones(3, dtype=bool)).toarray()
    np.testing.assert_allclose(summed, rows)
    assert summed[1, 0] == pytest.approx(0.25 * summed[1, 2])


def test_neighbour_lists_are_bounded_and_sorted() -> None:
    model = knn.fit(chain_log(), replace(knn.SequentialKNNConfig(), neighbours=5))
    for item in range(model.n_items):
        _, scores = model.neighbours_of(item)
        assert len(scores) <= 5
        assert np.all(np.diff(scores) <= 0)


def test_recent_history_counts_more_than_old_history() -> None:
    pairs = InteractionLog.build(  # a->b twice, c->d twice, nothing else
        np.array([0, 0, 1, 1, 2, 2, 3, 3]), np.array([0, 1, 0, 1, 2, 3, 2, 3]), n_items=5
    )
    model = knn.fit(pairs, replace(knn.SequentialKNNConfig(), window=1, half_life=1))
    # history: a (old) then c (recent); b follows a, d follows c
    scores = knn.score_items(model, np.array([0, 2]), np.array([1.0, 1.0]))
    assert scores[3] > scores[1] > 0
    heavier_old = knn.score_items(model, np.array([0, 2]), np.array([10.0, 1.0]))
    assert heavier_old[1] > heavier_old[3]  # interaction weight still matters


def test_empty_history_scores_nothing() -> None:
    model = knn.fit(small_log())
    assert not knn.score_items(model, np.array([], int), np.array([])).any()


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    config = replace(knn.SequentialKNNConfig(), window=7, half_life=3.5, neighbours=17)
    model = knn.fit(chain_log(), config)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = knn.ItemNeighbours.load(path)
    assert loaded.config == config
    assert (loaded.matrix != model.matrix).nnz == 0
    np.testing.assert_array_equal(loaded.popularity, model.popularity)
    history = np.array([3, 4, 5])
    np.testing.assert_array_equal(
        knn.score_items(loaded, history, np.ones(3)), knn.score_items(model, history, np.ones(3))
    )


def test_a_model_saved_before_a_config_field_existed_loads_with_its_default(
    tmp_path: Path,
) -> None:
    model = knn.fit(chain_log(), replace(knn.SequentialKNNConfig(), window=7))
    path = tmp_path / "model.npz"
    model.save(path)
    with np.load(path) as saved:
        arrays = dict(saved)
    arrays["config"] = arrays["config"][:-1]  # as saved without `backward`
    np.savez(path, **arrays)
    loaded = knn.ItemNeighbours.load(path)
    assert loaded.config == model.config and loaded.config.backward == 1.0


def test_quality_on_a_sequential_fixture_beats_popularity() -> None:
    train, test = temporal_split(chain_log())
    model = knn.fit(train)
    histories = UserHistories.of(train)
    ours = evaluate(
        one_at_a_time(lambda u: knn.score_items(model, histories.items[u], histories.weights[u])),
        train,
        test,
    )
    popularity = train.item_weights()
    baseline = evaluate(one_at_a_time(lambda u: popularity), train, test)
    assert ours["ndcg@10"] >= 0.4
    assert ours["ndcg@10"] > 3 * baseline["ndcg@10"]


def random_log(seed: int, rows: int, users: int, items: int) -> InteractionLog:
    rng = np.random.default_rng(seed)
    return InteractionLog.build(
        rng.integers(0, users, rows),
        rng.integers(0, items, rows),
        rng.uniform(0.5, 3.0, rows).astype(np.float32),
        rng.uniform(0, 1000, rows),
        n_users=users,
        n_items=items,
    )


def test_an_extended_log_is_sorted_and_marks_its_new_rows() -> None:
    old = random_log(1, 500, 40, 60)
    more = random_log(2, 50, 45, 70)
    log, is_new = old.extended(more.users, more.items, more.weights, more.times, 45, 70)
    assert len(log) == 550 and is_new.sum() == 50
    assert np.all(np.diff(log.users) >= 0)
    same_user = np.diff(log.users) == 0
    assert np.all(np.diff(log.times)[same_user] >= 0)
    assert sorted(log.times[is_new].tolist()) == sorted(more.times.tolist())
    assert (log.n_users, log.n_items) == (45, 70)


@pytest.mark.parametrize("backward", [1.0, 0.4])
def test_an_incremental_refit_equals_a_full_fit_on_the_items_it_touches(backward: float) -> None:
    config = replace(knn.SequentialKNNConfig(), window=5, neighbours=10, backward=backward)
    old = random_log(3, 3000, 200, 300)
    more = random_log(4, 40, 220, 320)
    log, is_new = old.extended(more.users, more.items, more.weights, more.times, 220, 320)
    touched = knn.touched_items(log, config, is_new)
    assert set(more.items.tolist()) <= set(touched.tolist())
    assert len(touched) < 320
    full = knn.fit(log, config)
    partial = knn.fit_items(log, config, touched)
    for item in touched.tolist():
        np.testing.assert_array_equal(partial.neighbours_of(item)[0], full.neighbours_of(item)[0])
        np.testing.assert_allclose(partial.neighbours_of(item)[1], full.neighbours_of(item)[1])
    # Items the new rows did not touch co-occur with exactly what they did before.
    before = knn.fit(old, replace(config, neighbours=1000))
    after = knn.fit(log, replace(config, neighbours=1000))
    for item in sorted(set(range(300)) - set(touched.tolist()))[:50]:
        assert set(before.neighbours_of(item)[0].tolist()) == set(
            after.neighbours_of(item)[0].tolist()
        )


@pytest.mark.parametrize("backward", [1.0, 0.4])
def test_a_fit_in_shards_equals_a_fit_in_one_go(backward: float) -> None:
    config = replace(knn.SequentialKNNConfig(), window=6, neighbours=15, backward=backward)
    log = random_log(5, 4000, 150, 250)
    whole = knn.fit_items(log, config, None)
    sharded = knn.fit_items(log, config, None, pairs_per_shard=3000)
    assert len(list(knn._shards(log, config, np.arange(250), 3000))) > 5
    for item in range(250):
        np.testing.assert_array_equal(sharded.neighbours_of(item)[0], whole.neighbours_of(item)[0])
        np.testing.assert_allclose(sharded.neighbours_of(item)[1], whole.neighbours_of(item)[1])


@pytest.mark.parametrize("backward", [1.0, 0.4])
def test_a_shard_counts_exactly_the_pairs_of_its_rows(backward: float) -> None:
    config = replace(knn.SequentialKNNConfig(), window=7, backward=backward)
    log = random_log(8, 5000, 120, 200)
    everything = knn._cooccurrence(log, config, None).toarray()
    wanted = np.zeros(200, dtype=bool)
    wanted[np.random.default_rng(3).choice(200, 40, replace=False)] = True
    shard = knn._cooccurrence(log, config, wanted).toarray()
    np.testing.assert_allclose(shard[wanted], everything[wanted])
    assert not shard[~wanted].any() and shard[wanted].any()


@pytest.mark.parametrize("backward", [1.0, 0.4])
def test_an_update_of_the_kept_cooccurrence_equals_a_full_fit(backward: float) -> None:
    config = replace(knn.SequentialKNNConfig(), window=5, neighbours=10, backward=backward)
    old = random_log(6, 3000, 200, 300)
    more = random_log(7, 40, 220, 320)
    model, kept = knn.fit_keeping(old, config, keep_entries=10**9)
    assert kept is not None and model.n_items == 300
    log, is_new = old.extended(more.users, more.items, more.weights, more.times, 220, 320)
    updated, combined, touched = knn.update(old, log, config, is_new, kept)
    assert set(more.items.tolist()) <= set(touched.tolist()) and len(touched) < 320
    full, full_kept = knn.fit_keeping(log, config, keep_entries=10**9)
    assert full_kept is not None
    np.testing.assert_allclose(combined.toarray(), full_kept.toarray())
    summed = knn.summed_cooccurrence(log, config, keep_entries=10**9)
    assert summed is not None and knn.summed_cooccurrence(log, config, keep_entries=10) is None
    np.testing.assert_allclose(summed.toarray(), full_kept.toarray())
    for item in touched.tolist():
        np.testing.assert_array_equal(updated.neighbours_of(item)[0], full.neighbours_of(item)[0])
        np.testing.assert_allclose(updated.neighbours_of(item)[1], full.neighbours_of(item)[1])
    # Too large to keep: nothing is kept, and the model is the same.
    small_budget, none = knn.fit_keeping(log, config, keep_entries=10)
    assert none is None
    np.testing.assert_array_equal(small_budget.matrix.indices, full.matrix.indices)
