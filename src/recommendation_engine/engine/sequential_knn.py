"""Sequence-aware item-to-item collaborative filtering.

Two items are neighbours when the same users interact with them *close together in
time*: within ``window`` positions of each other in a user's chronological history,
each pair weighted ``exp(-(distance - 1) / decay)`` and by the geometric mean of the two
interactions' weights. Co-occurrence is normalised by the items' popularity (an
asymmetric cosine, exponent ``alpha``) and only the ``neighbours`` strongest neighbours
of each item are kept, so the model is a sparse item-by-item matrix whose size grows
with the catalogue, not with its square.

A user's recommendations sum the neighbour lists of their most recent ``history``
interactions, each weighted by its interaction weight and by recency: the weight halves
every ``half_life`` positions back. What a user did last therefore counts most, which is
where the signal is when predicting what they do next.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from recommendation_engine.engine.log import InteractionLog

_DISTANCES_PER_BLOCK = 10


@dataclass(frozen=True)
class SequentialKNNConfig:
    window: int = 30
    decay: float = 10.0
    alpha: float = 0.5
    neighbours: int = 200
    half_life: float = 5.0
    history: int = 50


@dataclass
class ItemNeighbours:
    """The trained model: each item's neighbours and similarity scores (CSR rows)."""

    matrix: sp.csr_matrix  # (n_items, n_items) float32, row = history item
    popularity: NDArray[np.float64]
    config: SequentialKNNConfig

    @property
    def n_items(self) -> int:
        return self.matrix.shape[0]

    def neighbours_of(self, item: int) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        start, end = self.matrix.indptr[item], self.matrix.indptr[item + 1]
        return self.matrix.indices[start:end], self.matrix.data[start:end]

    def save(self, path: Path) -> None:
        np.savez(
            path,
            indptr=self.matrix.indptr,
            indices=self.matrix.indices,
            data=self.matrix.data,
            shape=np.asarray(self.matrix.shape),
            popularity=self.popularity,
            config=np.asarray([getattr(self.config, f.name) for f in fields(self.config)], float),
        )

    @classmethod
    def load(cls, path: Path) -> ItemNeighbours:
        with np.load(path, allow_pickle=False) as saved:
            shape = tuple(int(x) for x in saved["shape"])
            matrix = sp.csr_matrix((saved["data"], saved["indices"], saved["indptr"]), shape=shape)
            values = dict(
                zip([f.name for f in fields(SequentialKNNConfig)], saved["config"], strict=True)
            )
            config = SequentialKNNConfig(
                **{k: type(getattr(SequentialKNNConfig(), k))(v) for k, v in values.items()}
            )
            return cls(matrix, saved["popularity"].copy(), config)


def fit(log: InteractionLog, config: SequentialKNNConfig = SequentialKNNConfig()) -> ItemNeighbours:
    """Every item's neighbour list."""
    return fit_items(log, config, None)


def fit_items(
    log: InteractionLog, config: SequentialKNNConfig, items: NDArray[np.integer] | None
) -> ItemNeighbours:
    """The neighbour lists of ``items`` (all when None), exactly as `fit` computes them;
    other items' rows are left empty. An incremental update recomputes only the items
    that new interactions touched (see `touched_items`)."""
    n = log.n_items
    wanted = None
    if items is not None:
        wanted = np.zeros(n, dtype=bool)
        wanted[np.asarray(items, np.int64)] = True
    cooccurrence = sp.csr_matrix((n, n), dtype=np.float64)
    # Pairs are gathered a block of distances at a time and summed in one conversion:
    # adding one sparse matrix per distance re-reads the growing total every time.
    for first_distance in range(1, config.window + 1, _DISTANCES_PER_BLOCK):
        rows, cols, weights = [], [], []
        for distance in range(
            first_distance, min(first_distance + _DISTANCES_PER_BLOCK, config.window + 1)
        ):
            same_user = log.users[distance:] == log.users[:-distance]
            if not same_user.any():
                break
            first = log.items[:-distance][same_user]
            second = log.items[distance:][same_user]
            weight = np.sqrt(log.weights[:-distance][same_user] * log.weights[distance:][same_user])
            weight = weight * np.exp(-(distance - 1) / config.decay)
            for row, col in ((first, second), (second, first)):
                if wanted is not None:
                    keep = wanted[row]
                    row, col, kept = row[keep], col[keep], weight[keep]
                else:
                    kept = weight
                rows.append(row)
                cols.append(col)
                weights.append(kept)
        if not rows:
            break
        block = sp.coo_matrix(
            (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        ).tocsr()
        cooccurrence = cooccurrence + block
    popularity = log.item_weights()
    coo = cooccurrence.tocoo()
    off_diagonal = coo.row != coo.col  # repeats of the same item are not neighbours
    rows, cols = coo.row[off_diagonal], coo.col[off_diagonal]
    safe = np.maximum(popularity, 1e-9)
    scores = coo.data[off_diagonal] / (
        safe[rows] ** config.alpha * safe[cols] ** (1 - config.alpha)
    )
    matrix = _keep_strongest(rows, cols, scores, n, config.neighbours)
    return ItemNeighbours(matrix, popularity, config)


def touched_items(
    log: InteractionLog, config: SequentialKNNConfig, new: NDArray[np.bool_]
) -> NDArray[np.int64]:
    """The items whose neighbour lists change when the rows marked ``new`` join the log:
    their own items, and every item within ``window`` positions of one of them in the
    same user's history."""
    positions = np.flatnonzero(new)
    touched = [log.items[positions]]
    for distance in range(1, config.window + 1):
        for step in (-distance, distance):
            other = positions + step
            inside = (other >= 0) & (other < len(log))
            other, origin = other[inside], positions[inside]
            same_user = log.users[other] == log.users[origin]
            touched.append(log.items[other[same_user]])
    return np.unique(np.concatenate(touched))


def _keep_strongest(
    rows: NDArray[np.int32], cols: NDArray[np.int32], scores: NDArray[np.float64], n: int, k: int
) -> sp.csr_matrix:
    """A CSR matrix keeping, in each row, the ``k`` largest scores, sorted descending.

    ``rows`` must be sorted ascending (as from a CSR matrix). One sort orders every row at
    once: the key is the row number plus the score's shortfall from the row's best,
    scaled into [0, 1).
    """
    if len(rows) == 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    starts = np.r_[0, np.flatnonzero(np.diff(rows)) + 1]
    best = np.maximum.reduceat(scores, starts)
    row_best = np.repeat(best, np.diff(np.r_[starts, len(rows)]))
    order = np.argsort(rows + 0.999 * (1.0 - scores / row_best))
    rows, cols, scores = rows[order], cols[order], scores[order]
    first_of_row = np.searchsorted(rows, np.arange(n))
    keep = np.arange(len(rows)) - first_of_row[rows] < k
    rows, cols, scores = rows[keep], cols[keep], scores[keep]
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=n))]
    return sp.csr_matrix(
        (scores.astype(np.float32), cols.astype(np.int32), indptr.astype(np.int64)), shape=(n, n)
    )


def profile_weights(
    weights: NDArray[np.floating], config: SequentialKNNConfig
) -> NDArray[np.float64]:
    """Weights of a chronological history (oldest first): interaction weight x recency."""
    steps_back = np.arange(len(weights))[::-1]
    return np.asarray(weights, np.float64) * 0.5 ** (steps_back / config.half_life)


def score_items(
    model: ItemNeighbours, items: NDArray[np.integer], weights: NDArray[np.floating]
) -> NDArray[np.float64]:
    """Scores of every item for a chronological history ``items`` (oldest first)."""
    items = np.asarray(items, np.int64)[-model.config.history :]
    weights = np.asarray(weights)[-model.config.history :]
    if len(items) == 0:
        return np.zeros(model.n_items)
    profile = profile_weights(weights, model.config)
    return np.asarray(model.matrix[items].T @ profile).ravel()


def config_dict(config: SequentialKNNConfig) -> dict[str, float]:
    return asdict(config)
