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

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from recommendation_engine.engine.log import InteractionLog

_DISTANCES_PER_BLOCK = 10
# Pair entries (one per direction) a fit holds at once; longer logs are fitted in shards
# of items.
PAIRS_PER_SHARD = 40_000_000
# Co-occurrence left over from subtracting a pair that no longer exists (rounding).
_NEGLIGIBLE = 1e-9

# Which pairs `distance` apart to take, by the position of their earlier row.
Selection = Callable[[int], NDArray[np.bool_]]


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
    log: InteractionLog,
    config: SequentialKNNConfig,
    items: NDArray[np.integer] | None,
    pairs_per_shard: int = PAIRS_PER_SHARD,
) -> ItemNeighbours:
    """The neighbour lists of ``items`` (all when None), exactly as `fit` computes them;
    other items' rows are left empty. An incremental update without a kept
    co-occurrence matrix recomputes only the items that new interactions touched (see
    `touched_items`).

    Items are trained in shards of at most about ``pairs_per_shard`` pair entries, so
    memory stays bounded however long the log is; each shard reads the log again."""
    return _fit(log, config, items, pairs_per_shard, keep_entries=0)[0]


def fit_keeping(
    log: InteractionLog, config: SequentialKNNConfig, keep_entries: int
) -> tuple[ItemNeighbours, sp.csr_matrix | None]:
    """`fit`, and the summed co-occurrence matrix it came from when that has at most
    ``keep_entries`` entries (an incremental update then adds to it, see `update`)."""
    return _fit(log, config, None, PAIRS_PER_SHARD, keep_entries)


def summed_cooccurrence(
    log: InteractionLog, config: SequentialKNNConfig, keep_entries: int
) -> sp.csr_matrix | None:
    """The log's summed co-occurrence matrix (what `fit_keeping` keeps), or None as soon
    as it has more than ``keep_entries`` entries."""
    n = log.n_items
    total = sp.csr_matrix((n, n), dtype=np.float64)
    for shard in _shards(log, config, np.arange(n), PAIRS_PER_SHARD):
        total = total + _cooccurrence(log, config, shard)
        if total.nnz > keep_entries:
            return None
    return total


def update(
    previous: InteractionLog,
    log: InteractionLog,
    config: SequentialKNNConfig,
    new: NDArray[np.bool_],
    cooccurrence: sp.csr_matrix,
) -> tuple[ItemNeighbours, sp.csr_matrix, NDArray[np.int64]]:
    """Fold new interactions into ``cooccurrence``, the summed co-occurrence of
    ``previous``; ``log`` is ``previous`` plus the rows marked ``new``.

    Returns the neighbour lists of the items whose lists change (their rows only; the
    lists equal a full fit's), the new co-occurrence matrix, and those items. A new row
    can land inside a user's history and shift the distances of the pairs around it, so
    what changes is the pairs spanning a new row, counted with and without the new rows."""
    n = log.n_items
    if cooccurrence.shape[0] < n:
        cooccurrence = cooccurrence.copy()
        cooccurrence.resize((n, n))
    # Pairs of the new log with a new row at or between their ends; pairs of the
    # previous log with new rows now between their ends (their distance grew).
    new_before = np.r_[0, np.cumsum(new)]
    position = np.flatnonzero(~new)  # where each previous row is in the new log
    gained = _cooccurrence(
        log, config, None, lambda d: new_before[d + 1 :] - new_before[: -d - 1] > 0
    )
    lost = _cooccurrence(previous, config, None, lambda d: position[d:] - position[:-d] > d)
    lost.resize((n, n))
    delta = gained - lost
    delta.data[np.abs(delta.data) < _NEGLIGIBLE] = 0.0
    delta.eliminate_zeros()
    combined = cooccurrence + delta
    combined.data[np.abs(combined.data) < _NEGLIGIBLE] = 0.0  # pairs that are gone
    combined.eliminate_zeros()
    touched = np.union1d(np.flatnonzero(np.diff(delta.indptr)), log.items[new])
    popularity = log.item_weights()
    rows = combined[touched].tocoo()
    lists = _strongest(touched[rows.row], rows.col, rows.data, n, popularity, config)
    return ItemNeighbours(lists, popularity, config), combined, touched


def _fit(
    log: InteractionLog,
    config: SequentialKNNConfig,
    items: NDArray[np.integer] | None,
    pairs_per_shard: int,
    keep_entries: int,
) -> tuple[ItemNeighbours, sp.csr_matrix | None]:
    n = log.n_items
    chosen = np.arange(n) if items is None else np.unique(np.asarray(items, np.int64))
    popularity = log.item_weights()
    parts = []
    kept: sp.csr_matrix | None = sp.csr_matrix((n, n)) if keep_entries > 0 else None
    for shard in _shards(log, config, chosen, pairs_per_shard):
        summed = _cooccurrence(log, config, shard)
        entries = summed.tocoo()
        parts.append(_strongest(entries.row, entries.col, entries.data, n, popularity, config))
        del entries
        # Shards hold disjoint rows, so their entries add up exactly.
        if kept is not None and kept.nnz + summed.nnz <= keep_entries:
            kept = summed if kept.nnz == 0 else kept + summed
        else:
            kept = None
    return ItemNeighbours(_assemble(parts, n), popularity, config), kept


def _assemble(parts: list[sp.csr_matrix], n: int) -> sp.csr_matrix:
    """One CSR matrix from parts holding disjoint, ascending ranges of rows (in order),
    keeping each row's order."""
    if not parts:
        return sp.csr_matrix((n, n), dtype=np.float32)
    counts = np.sum([np.diff(part.indptr) for part in parts], axis=0)
    indptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
    indices = np.concatenate([part.indices for part in parts])
    data = np.concatenate([part.data for part in parts])
    return sp.csr_matrix((data, indices, indptr), shape=(n, n))


def _pairs(
    log: InteractionLog, config: SequentialKNNConfig, where: Selection | None = None
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]]:
    """For each distance, the (earlier item, later item, weight) of every pair of one
    user's interactions that far apart (only the pairs ``where(distance)`` marks, by
    earlier position, when given)."""
    for distance in range(1, config.window + 1):
        same_user = log.users[distance:] == log.users[:-distance]
        if not same_user.any():
            return
        if where is not None:
            same_user &= where(distance)
        first = log.items[:-distance][same_user]
        second = log.items[distance:][same_user]
        weight = np.sqrt(log.weights[:-distance][same_user] * log.weights[distance:][same_user])
        yield first, second, weight * np.exp(-(distance - 1) / config.decay)


def _shards(
    log: InteractionLog, config: SequentialKNNConfig, items: NDArray[np.int64], budget: int
) -> Iterator[NDArray[np.bool_]]:
    """Masks over the items, each choosing some of ``items`` whose rows hold about
    ``budget`` pair entries at most (an item over the budget alone is a shard)."""
    if items.size == 0:
        return
    entries = np.bincount(log.items, minlength=log.n_items) * 2.0 * config.window
    if entries[items].sum() > budget:  # the bound is loose: count exactly
        entries = np.zeros(log.n_items)
        for first, second, _ in _pairs(log, config):
            entries += np.bincount(first, minlength=log.n_items)
            entries += np.bincount(second, minlength=log.n_items)
    cumulative = np.cumsum(entries[items])
    shard_of = (cumulative - entries[items]) // max(budget, 1)
    for shard in np.unique(shard_of):
        mask = np.zeros(log.n_items, dtype=bool)
        mask[items[shard_of == shard]] = True
        yield mask


def _cooccurrence(
    log: InteractionLog,
    config: SequentialKNNConfig,
    wanted: NDArray[np.bool_] | None,
    where: Selection | None = None,
) -> sp.csr_matrix:
    """The summed pair weights in the rows of the ``wanted`` items (all when None), of
    the pairs ``where`` selects (see `_pairs`)."""
    n = log.n_items
    cooccurrence = sp.csr_matrix((n, n), dtype=np.float64)
    # Pairs are gathered a block of distances at a time and summed in one conversion:
    # adding one sparse matrix per distance re-reads the growing total every time.
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    weights: list[NDArray[np.float64]] = []
    for count, (first, second, weight) in enumerate(_pairs(log, config, where), start=1):
        for row, col in ((first, second), (second, first)):
            if wanted is None:
                rows.append(row)
                cols.append(col)
                weights.append(weight)
            else:
                keep = wanted[row]
                rows.append(row[keep])
                cols.append(col[keep])
                weights.append(weight[keep])
        if count % _DISTANCES_PER_BLOCK == 0:
            cooccurrence = cooccurrence + _summed(rows, cols, weights, n)
            rows, cols, weights = [], [], []
    if rows:
        cooccurrence = cooccurrence + _summed(rows, cols, weights, n)
    return cooccurrence


def _strongest(
    rows: NDArray[np.integer],
    cols: NDArray[np.integer],
    summed: NDArray[np.float64],
    n: int,
    popularity: NDArray[np.float64],
    config: SequentialKNNConfig,
) -> sp.csr_matrix:
    """From summed co-occurrence entries (sorted by row), a CSR matrix of each row's
    kept neighbours, best first."""
    off_diagonal = rows != cols  # repeats of the same item are not neighbours
    rows, cols = rows[off_diagonal], cols[off_diagonal]
    safe = np.maximum(popularity, 1e-9)
    # Powers per item, not per entry: an entry then costs two lookups and a division.
    row_norm, col_norm = safe**config.alpha, safe ** (1 - config.alpha)
    scores = summed[off_diagonal] / (row_norm[rows] * col_norm[cols])
    return _keep_strongest(rows, cols, scores, n, config.neighbours)


def _summed(
    rows: list[NDArray[np.int64]],
    cols: list[NDArray[np.int64]],
    weights: list[NDArray[np.float64]],
    n: int,
) -> sp.csr_matrix:
    return sp.coo_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    ).tocsr()


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

    ``rows`` must be sorted ascending (as from a CSR matrix). Rows longer than ``k`` are
    cut to their ``k`` best first (a partial sort each); then one sort orders every row
    at once: the key is the row number plus the score's shortfall from the row's best,
    scaled into [0, 1).
    """
    if len(rows) == 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    starts = np.r_[0, np.flatnonzero(np.diff(rows)) + 1]
    ends = np.r_[starts[1:], len(rows)]
    long_rows = ends - starts > k
    if long_rows.any():
        keep = np.ones(len(rows), dtype=bool)
        for start, end in zip(starts[long_rows].tolist(), ends[long_rows].tolist(), strict=True):
            keep[start:end] = False
            keep[start + np.argpartition(-scores[start:end], k - 1)[:k]] = True
        rows, cols, scores = rows[keep], cols[keep], scores[keep]
        starts = np.r_[0, np.flatnonzero(np.diff(rows)) + 1]
    best = np.maximum.reduceat(scores, starts)
    row_best = np.repeat(best, np.diff(np.r_[starts, len(rows)]))
    order = np.argsort(rows + 0.999 * (1.0 - scores / row_best))
    rows, cols, scores = rows[order], cols[order], scores[order]
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
