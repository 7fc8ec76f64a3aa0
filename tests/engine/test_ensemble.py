"""The default model: sequential, long-term and content neighbour lists blended."""

from __future__ import annotations

import numpy as np
import pytest

from recommendation_engine.engine import ensemble
from recommendation_engine.engine import sequential_knn as knn
from tests.engine.fixtures import attribute_taste, chain_log


def config(**weights: float) -> ensemble.EnsembleConfig:
    return ensemble.EnsembleConfig(weights=ensemble.BlendWeights(**weights))


def test_sequential_alone_ranks_as_the_sequential_model() -> None:
    log = chain_log()
    model = ensemble.fit(log, None, config())
    assert model.long_term is None and model.content is None  # weight 0: not fitted
    history = (np.array([3, 4, 5]), np.ones(3))
    blended = ensemble.score_items(model, *history)
    raw = knn.score_items(model.sequential, *history)
    np.testing.assert_allclose(blended, raw / raw.max())


def test_sources_are_normalised_per_user_and_weighted() -> None:
    parts = {
        "sequential": np.array([[4.0, 2.0, 0.0, -np.inf]]),
        "long_term": np.array([[0.0, 1.0, 0.5, 9.0]]),
        "content": np.array([[0.0, 0.0, 2.0, 1.0]]),
    }
    weights = ensemble.BlendWeights(sequential=2, long_term=1, content=1, content_sharpness=2)
    blended = ensemble.blend(parts, weights)
    assert blended[0, 3] == -np.inf  # an excluded item stays excluded
    # long_term's best, 9, is at an item only sequential excludes: it sets the scale.
    np.testing.assert_allclose(
        blended[0, :3],
        [0.5 * 1.0, 0.5 * 0.5 + 0.25 * 1 / 9, 0.25 * 0.5 / 9 + 0.25 * 1.0],
    )
    with pytest.raises(ValueError, match="positive weight"):
        ensemble.blend(parts, ensemble.BlendWeights(sequential=0))


def test_excluded_items_do_not_set_the_scale() -> None:
    log, vectors = attribute_taste()
    model = ensemble.fit(log, vectors, config(sequential=0.5, long_term=0.3, content=0.2))
    assert model.long_term is not None and model.content is not None
    items = log.items[log.users == 0]
    scores = ensemble.score_items(model, items, np.ones(len(items)), exclude=items)
    assert np.all(np.isneginf(scores[items]))
    finite = scores[np.isfinite(scores)]
    assert 0 < finite.max() <= 1.0 + 1e-9
    batch = ensemble.score_users(model, [(items, np.ones(len(items)))] * 2, exclude=[items] * 2)
    np.testing.assert_allclose(batch[0], scores)


def test_a_request_reads_as_much_history_as_its_longest_source() -> None:
    assert ensemble.history_length(config()) == 50
    assert ensemble.history_length(config(sequential=0.8, long_term=0.2)) == 100
