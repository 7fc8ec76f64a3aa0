"""Content-based scoring: a user's profile is the recency-weighted mean of the feature
vectors of what they interacted with; items are scored by cosine similarity to it."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from recommendation_engine.engine.sequential_knn import SequentialKNNConfig, profile_weights


def user_profile(
    vectors: NDArray[np.float32],
    items: NDArray[np.integer],
    weights: NDArray[np.floating],
    config: SequentialKNNConfig,
) -> NDArray[np.float32]:
    """The L2-normalised profile of a chronological history (oldest first)."""
    items = np.asarray(items)[-config.history :]
    if len(items) == 0:
        return np.zeros(vectors.shape[1], np.float32)
    profile = profile_weights(np.asarray(weights)[-config.history :], config) @ vectors[items]
    norm = float(np.linalg.norm(profile))
    return (profile / norm if norm > 0 else profile).astype(np.float32)


def score_items(
    vectors: NDArray[np.float32],
    items: NDArray[np.integer],
    weights: NDArray[np.floating],
    config: SequentialKNNConfig,
) -> NDArray[np.float64]:
    """Cosine similarity of every item's (unit) vector to the user's profile."""
    return (vectors @ user_profile(vectors, items, weights, config)).astype(np.float64)
