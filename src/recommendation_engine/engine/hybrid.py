"""Blending collaborative and content-based scores into one ranking.

Each source is scaled into [0, 1] by its best score. Content similarities are dense (a
user's profile is fairly close to most items of the genres they watch), so the content
part is sharpened, raised to the power ``CONTENT_SHARPNESS``, before blending: only
close content matches then move the ranking, instead of a broad genre-wide offset.
Chosen on MovieLens-100K's validation split (NDCG@10 of the 0.6/0.4 blend for exponents
1, 20, 40, 80, 160: 0.2315, 0.2311, 0.2338, 0.2338, 0.2335).
The transform is monotonic, so pure content ranking (weights 0/1) is unchanged.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

CONTENT_SHARPNESS = 40.0

# Each source offers its best `count + CANDIDATE_MARGIN` items to a blend of `count`.
CANDIDATE_MARGIN = 20


def per_source(count: int) -> int:
    """How many candidates each source offers to a blended list of ``count``."""
    return count + CANDIDATE_MARGIN


def normalise(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """Scale scores into [0, 1] by the source's best score (non-positive scores give 0)."""
    finite = scores[np.isfinite(scores)]
    best = float(finite.max()) if finite.size else 0.0
    if best <= 0:
        return np.zeros_like(scores)
    return np.clip(scores / best, 0.0, None)


def components(
    collaborative: NDArray[np.float64],
    content: NDArray[np.float64],
    collaborative_weight: float,
    content_weight: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each source's weighted share of the blended score; the weights are normalised."""
    total = collaborative_weight + content_weight
    if total <= 0:
        raise ValueError("at least one weight must be positive")
    return (
        collaborative_weight / total * normalise(collaborative),
        content_weight / total * normalise(content) ** CONTENT_SHARPNESS,
    )


def blend(
    collaborative: NDArray[np.float64],
    content: NDArray[np.float64],
    collaborative_weight: float,
    content_weight: float,
) -> NDArray[np.float64]:
    """The blended score. Weights 1/0 (or 0/1) give exactly one source's ranking."""
    first, second = components(collaborative, content, collaborative_weight, content_weight)
    return first + second
