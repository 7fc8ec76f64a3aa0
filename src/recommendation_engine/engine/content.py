"""Content-based scoring: a user's profile is the recency-weighted mean of the feature
vectors of what they interacted with; items are scored by cosine similarity to it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from recommendation_engine.engine.sequential_knn import SequentialKNNConfig, profile_weights


def weighted_profile(
    vectors: NDArray[np.floating], weights: NDArray[np.floating]
) -> NDArray[np.float32] | None:
    """The L2-normalised weighted sum of ``vectors`` (one per row); None when it is zero."""
    if len(weights) == 0:
        return None
    profile = np.asarray(weights, np.float64) @ np.asarray(vectors)
    norm = float(np.linalg.norm(profile))
    return (profile / norm).astype(np.float32) if norm > 0 else None


def user_profile(
    vectors: NDArray[np.float32],
    items: NDArray[np.integer],
    weights: NDArray[np.floating],
    config: SequentialKNNConfig,
) -> NDArray[np.float32]:
    """The L2-normalised profile of a chronological history (oldest first)."""
    items = np.asarray(items)[-config.history :]
    recency = profile_weights(np.asarray(weights)[-config.history :], config)
    profile = weighted_profile(vectors[items], recency)
    return profile if profile is not None else np.zeros(vectors.shape[1], np.float32)


def score_items(
    vectors: NDArray[np.float32],
    items: NDArray[np.integer],
    weights: NDArray[np.floating],
    config: SequentialKNNConfig,
) -> NDArray[np.float64]:
    """Cosine similarity of every item's (unit) vector to the user's profile."""
    return (vectors @ user_profile(vectors, items, weights, config)).astype(np.float64)


def score_users(
    vectors: NDArray[np.float32],
    histories: Sequence[tuple[NDArray[np.integer], NDArray[np.floating]]],
    config: SequentialKNNConfig,
) -> NDArray[np.float64]:
    """`score_items` for many histories at once (one row each), in one product."""
    if not histories:
        return np.zeros((0, vectors.shape[0]))
    profiles = np.stack([user_profile(vectors, items, w, config) for items, w in histories])
    return (profiles @ vectors.T).astype(np.float64)
