"""Blending scores from several sources into one ranking."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def normalise(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """Scale scores into [0, 1] by the source's best score (non-positive scores give 0)."""
    finite = scores[np.isfinite(scores)]
    best = float(finite.max()) if finite.size else 0.0
    if best <= 0:
        return np.zeros_like(scores)
    return np.clip(scores / best, 0.0, None)


def blend(
    collaborative: NDArray[np.float64],
    content: NDArray[np.float64],
    collaborative_weight: float,
    content_weight: float,
) -> NDArray[np.float64]:
    """Weighted sum of the per-source normalised scores; the weights are normalised.

    A weight of 1/0 gives exactly the ranking of the weighted source alone.
    """
    total = collaborative_weight + content_weight
    if total <= 0:
        raise ValueError("at least one weight must be positive")
    wc, wb = collaborative_weight / total, content_weight / total
    return wc * normalise(collaborative) + wb * normalise(content)
