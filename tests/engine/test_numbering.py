"""Numbering items by key, so that a build does not depend on the order rows arrived in."""

from __future__ import annotations

import numpy as np

from recommendation_engine.engine import ensemble
from recommendation_engine.engine.log import InteractionLog
from recommendation_engine.engine.vocabulary import Vocabulary


def test_sorted_numbers_keys_in_order_and_maps_the_old_numbers() -> None:
    vocabulary = Vocabulary([("movie", "b"), ("book", "z"), ("movie", "a")])
    ordered, renumbered = vocabulary.sorted()
    assert ordered.keys == [("book", "z"), ("movie", "a"), ("movie", "b")]
    assert renumbered.tolist() == [2, 0, 1]
    for old, key in enumerate(vocabulary.keys):
        assert ordered.index(key) == renumbered[old]


def test_a_model_of_renumbered_items_is_the_same_model() -> None:
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(40), 6)
    items = rng.integers(0, 25, users.size)
    log = InteractionLog.build(users, items, n_users=40, n_items=25)
    permutation = rng.permutation(25)
    config = ensemble.EnsembleConfig(weights=ensemble.BlendWeights(0.7, 0.3, 0.0))
    first = ensemble.fit(log, None, config)
    second = ensemble.fit(log.renumbered(permutation), None, config)
    history = items[:6]
    np.testing.assert_allclose(
        ensemble.score_items(first, history, np.ones(6)),
        ensemble.score_items(second, permutation[history], np.ones(6))[permutation],
        rtol=1e-5,
    )
