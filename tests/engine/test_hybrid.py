"""Blending collaborative and content scores."""

from __future__ import annotations

import numpy as np
import pytest

from recommendation_engine.engine.hybrid import blend, normalise

rng = np.random.default_rng(5)
COLLABORATIVE = rng.random(50) * 7
CONTENT = rng.random(50) * 0.3


def ranking(scores: np.ndarray) -> list[int]:
    return np.argsort(-scores, kind="stable").tolist()


def test_weight_one_zero_gives_exactly_the_pure_ranking() -> None:
    assert ranking(blend(COLLABORATIVE, CONTENT, 1.0, 0.0)) == ranking(COLLABORATIVE)
    assert ranking(blend(COLLABORATIVE, CONTENT, 0.0, 1.0)) == ranking(CONTENT)


def test_weights_are_normalised() -> None:
    np.testing.assert_allclose(
        blend(COLLABORATIVE, CONTENT, 2, 2), blend(COLLABORATIVE, CONTENT, 0.5, 0.5)
    )
    np.testing.assert_allclose(blend(COLLABORATIVE, CONTENT, 3, 0), normalise(COLLABORATIVE))


def test_both_sources_move_the_blend() -> None:
    mixed = ranking(blend(COLLABORATIVE, CONTENT, 0.5, 0.5))
    assert mixed != ranking(COLLABORATIVE) and mixed != ranking(CONTENT)


def test_normalise_handles_empty_and_negative_sources() -> None:
    assert not normalise(np.zeros(4)).any()
    assert not normalise(np.array([-1.0, -2.0])).any()
    np.testing.assert_allclose(normalise(np.array([2.0, 1.0, -1.0])), [1.0, 0.5, 0.0])
    with pytest.raises(ValueError):
        blend(COLLABORATIVE, CONTENT, 0, 0)
