"""Content-based item-to-item neighbours, precomputed at build time.

`engine.content` scores a request by the cosine between a user's profile vector and
every item's vector. That ranking is weak for two reasons this module addresses:

* Hashed attribute vectors share components that say nothing about taste: a feature
  every item has (MovieLens' release years all fall in one logarithmic bucket of
  `features`) makes every pair of items look alike (mean cosine 0.47 on MovieLens).
  Vectors are *centred* here: the catalogue's mean vector is subtracted before the
  cosine, so only what sets an item apart counts.
* Attributes cannot tell a film everybody watched from one nobody did. A candidate's
  similarity is multiplied by ``(1 + popularity) ** popularity`` (its interaction
  count), so among equally similar items the ones people actually take come first.

Each item keeps its ``neighbours`` best candidates, the row scaled so its best is 1.
A user's content score then sums the rows of their recent history with the sequential
model's recency weights, exactly as collaborative neighbour lists are summed: no vector
search per request. Candidates are the ``max_candidates`` most popular items (every
item when the catalogue is smaller), and lists are computed for the ``max_items`` most
popular ones (the rest have none: they seldom appear in a history), which bounds the
build's cost: about a minute on two cores at the bounds, whatever the catalogue's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from recommendation_engine.engine.sequential_knn import SequentialKNNConfig, profile_weights


@dataclass(frozen=True)
class ContentNeighboursConfig:
    neighbours: int = 100
    popularity: float = 0.5  # exponent of (1 + interaction count) weighting candidates
    max_candidates: int = 20_000
    max_items: int = 100_000  # items that get a list, the most popular first
    centred: bool = True


@dataclass
class ContentNeighbours:
    matrix: sp.csr_matrix  # (n_items, n_items) float32; row = history item, best = 1
    config: ContentNeighboursConfig
    # The same pairs' plain cosine similarity (uncentred vectors, no popularity): what
    # a similar-entities list reports and holds against SIMILARITY_THRESHOLD.
    similarity: sp.csr_matrix | None = None

    @property
    def n_items(self) -> int:
        return self.matrix.shape[0]


def item_vectors(vectors: NDArray[np.floating], centred: bool = True) -> NDArray[np.float32]:
    """Unit vectors, centred on the mean of the items that have one (zero rows stay 0)."""
    vectors = np.asarray(vectors, np.float32)
    present = np.linalg.norm(vectors, axis=1) > 0
    if centred and present.any():
        vectors = vectors - vectors[present].mean(axis=0, dtype=np.float64).astype(np.float32)
        vectors[~present] = 0.0
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def most_popular(
    items: NDArray[np.integer], popularity: NDArray[np.floating], limit: int
) -> NDArray[np.int64]:
    """The ``limit`` most popular of ``items`` (ties by item number), in item order."""
    items = np.asarray(items, np.int64)
    if items.size <= limit:
        return items
    order = np.lexsort((items, -np.asarray(popularity)[items]))
    return np.sort(items[order[:limit]])


def fit(
    vectors: NDArray[np.floating],
    popularity: NDArray[np.floating],
    config: ContentNeighboursConfig = ContentNeighboursConfig(),
) -> ContentNeighbours:
    """Each item's best content neighbours (rows of items without a vector are empty)."""
    n = len(vectors)
    unit = item_vectors(vectors, config.centred)
    popularity = np.asarray(popularity, np.float64)
    has_vector = np.linalg.norm(unit, axis=1) > 0
    candidates = most_popular(np.flatnonzero(has_vector), popularity, config.max_candidates)
    if candidates.size == 0:
        empty = sp.csr_matrix((n, n), dtype=np.float32)
        return ContentNeighbours(empty, config, empty.copy())
    prior = ((1.0 + np.maximum(popularity[candidates], 0.0)) ** config.popularity).astype(
        np.float32
    )
    target = unit[candidates]
    k = min(config.neighbours, candidates.size)
    rows_with = most_popular(np.flatnonzero(has_vector), popularity, config.max_items)
    block = max(1, 4_000_000 // candidates.size)
    rows, cols, values = [], [], []
    for start in range(0, rows_with.size, block):
        chunk = rows_with[start : start + block]
        scores = unit[chunk] @ target.T
        np.maximum(scores, 0.0, out=scores)
        scores *= prior[None, :]
        scores[chunk[:, None] == candidates[None, :]] = 0.0  # not one's own neighbour
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else None
        if top is None:
            top = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
        chosen = np.take_along_axis(scores, top, 1)
        best = chosen.max(axis=1, keepdims=True)
        keep = chosen > 0
        rows.append(chunk[np.nonzero(keep)[0]])
        cols.append(candidates[top[keep]])
        values.append((chosen / np.where(best > 0, best, 1.0))[keep])
    pairs = (np.concatenate(rows), np.concatenate(cols))
    matrix = sp.csr_matrix((np.concatenate(values).astype(np.float32), pairs), shape=(n, n))
    plain = item_vectors(vectors, centred=False)
    similarity = sp.csr_matrix((_cosines(plain, *pairs), pairs), shape=(n, n))
    return ContentNeighbours(matrix, config, similarity)


def _cosines(
    unit: NDArray[np.float32], rows: NDArray[np.integer], cols: NDArray[np.integer]
) -> NDArray[np.float32]:
    """The cosine of each pair (rows[i], cols[i]) of unit vectors, a block at a time."""
    out = np.empty(rows.size, np.float32)
    step = max(1, 8_000_000 // max(unit.shape[1], 1))
    for start in range(0, rows.size, step):
        part = slice(start, start + step)
        out[part] = np.einsum("ij,ij->i", unit[rows[part]], unit[cols[part]])
    return out


def score_users(
    model: ContentNeighbours,
    histories: Sequence[tuple[NDArray[np.integer], NDArray[np.floating]]],
    half_life: float,
    history: int,
) -> NDArray[np.float64]:
    """Content scores of every item for many chronological histories (oldest first): the
    history's neighbour rows summed with recency weights (see `sequential_knn`)."""
    return np.asarray(score_matrix(model, histories, half_life, history).toarray(), np.float64)


def score_matrix(
    model: ContentNeighbours,
    histories: Sequence[tuple[NDArray[np.integer], NDArray[np.floating]]],
    half_life: float,
    history: int,
) -> sp.csr_matrix:
    """`score_users` as a sparse matrix (items no history reaches are not stored)."""
    rows, items, weights = [], [], []
    for row, (chosen, chosen_weights) in enumerate(histories):
        chosen = np.asarray(chosen, np.int64)[-history:]
        if len(chosen) == 0:
            continue
        recent = np.asarray(chosen_weights, np.float64)[-history:]
        rows.append(np.full(len(chosen), row, np.int64))
        items.append(chosen)
        weights.append(profile_weights(recent, SequentialKNNConfig(half_life=half_life)))
    if not rows:
        return sp.csr_matrix((len(histories), model.n_items))
    profiles = sp.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(items))),
        shape=(len(histories), model.n_items),
    )
    return sp.csr_matrix(profiles @ model.matrix, dtype=np.float64)
