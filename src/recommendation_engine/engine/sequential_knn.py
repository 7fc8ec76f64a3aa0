"""Sequence-aware item-to-item collaborative filtering.

Two items are neighbours when the same users interact with them *close together in
time*: within ``window`` positions of each other in a user's chronological history,
each pair weighted ``exp(-(distance - 1) / decay)`` and by the geometric mean of the two
interactions' weights. Direction counts too: an item's list scores the items that came
*after* it in other users' histories with weight 1 and those that came *before* it with
weight ``backward`` (1 makes the lists symmetric; below 1 favours what tends to come
next, which is what a user's recommendations are for). Co-occurrence is normalised by
the items' popularity (an asymmetric cosine, exponent ``alpha``) and only the
``neighbours`` strongest neighbours of each item are kept, so the model is a sparse
item-by-item matrix whose size grows with the catalogue, not with its square.

A user's recommendations sum the neighbour lists of their most recent ``history``
interactions, each weighted by its interaction weight and by recency: the weight halves
every ``half_life`` positions back. What a user did last therefore counts most, which is
where the signal is when predicting what they do next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from recommendation_engine.engine.log import InteractionLog
from recommendation_engine.engine.memory import release_freed

# Arrays of pair entries (one distance, one direction) summed together at a time.
_ENTRIES_PER_BLOCK = 20
# Co-occurrence entries scored at once (see `_strongest`).
_ENTRIES_PER_SCORING_BLOCK = 1_000_000
# Pair entries (one per direction) a fit holds at once; longer logs are fitted in shards
# of items. A shard finds its pairs from its own items' positions, so many small shards
# cost about what one large one does.
PAIRS_PER_SHARD = 5_000_000
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
    # Weight of a neighbour that came before the item rather than after it (see above).
    backward: float = 1.0


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
            # A model saved before a field existed has fewer values: the rest keep
            # their defaults (which reproduce how such a model was fitted).
            values = dict(
                zip([f.name for f in fields(SequentialKNNConfig)], saved["config"], strict=False)
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
    parts, entries = [], 0
    for shard in _shards(log, config, np.arange(n), PAIRS_PER_SHARD):
        parts.append(_cooccurrence(log, config, shard))
        entries += parts[-1].nnz
        if entries > keep_entries:
            return None
    return _assemble(parts, n, np.float64)


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
    if cooccurrence.shape[0] < n:  # new items: empty rows, sharing the kept arrays
        indptr = cooccurrence.indptr
        grown = np.r_[indptr, np.full(n - cooccurrence.shape[0], indptr[-1], indptr.dtype)]
        cooccurrence = sp.csr_matrix(
            (cooccurrence.data, cooccurrence.indices, grown), shape=(n, n), copy=False
        )
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
    # Pairs that are gone (two comparisons: no whole-matrix float temporary).
    combined.data[(combined.data < _NEGLIGIBLE) & (combined.data > -_NEGLIGIBLE)] = 0.0
    combined.eliminate_zeros()
    touched = np.union1d(np.flatnonzero(np.diff(delta.indptr)), log.items[new])
    popularity = log.item_weights()
    lists = _strongest(combined, touched, popularity, config)
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
    # The shards' summed co-occurrence, while it fits in ``keep_entries``.
    kept: list[sp.csr_matrix] | None = [] if keep_entries > 0 else None
    kept_entries = 0
    for shard in _shards(log, config, chosen, pairs_per_shard):
        summed = _cooccurrence(log, config, shard)
        parts.append(_strongest(summed, np.flatnonzero(shard), popularity, config))
        kept_entries += summed.nnz
        if kept is not None and kept_entries <= keep_entries:
            kept.append(summed)
        else:
            kept = None
        del summed
        release_freed()
    lists = _assemble(parts, n, np.float32)
    # Shards hold disjoint, ascending ranges of rows, so their entries join exactly.
    return ItemNeighbours(lists, popularity, config), (
        None if kept is None else _assemble(kept, n, np.float64)
    )


def _assemble(parts: list[sp.csr_matrix], n: int, dtype: type[np.floating]) -> sp.csr_matrix:
    """One CSR matrix from parts holding disjoint, ascending ranges of rows (in order),
    keeping each row's order. Emptied as it goes: each part is released once copied,
    and the output's pages are only touched as they are filled, so the parts and the
    result are not both held in full."""
    if not parts:
        return sp.csr_matrix((n, n), dtype=dtype)
    counts = np.zeros(n, np.int64)
    for part in parts:
        counts += np.diff(part.indptr)
    indptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
    indices = np.empty(indptr[-1], np.int32)
    data = np.empty(indptr[-1], dtype)
    filled = 0
    while parts:
        part = parts.pop(0)
        indices[filled : filled + part.nnz] = part.indices
        data[filled : filled + part.nnz] = part.data
        filled += part.nnz
        del part
        release_freed()
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
        earlier = log.weights[:-distance][same_user].astype(np.float64)
        weight = np.sqrt(earlier * log.weights[distance:][same_user])
        yield first, second, weight * np.exp(-(distance - 1) / config.decay)


def _pairs_in_rows(
    log: InteractionLog, config: SequentialKNNConfig, wanted: NDArray[np.bool_]
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]]:
    """For each distance and direction, the (row item, other item, weight) entries of the
    pairs whose row is a ``wanted`` item: what `_pairs` gives in both directions, kept
    where the row is wanted, but found from the wanted items' own positions, so a shard
    costs in proportion to its rows rather than to the whole log."""
    positions = np.flatnonzero(wanted[log.items])
    users, row_items = log.users[positions], log.items[positions]
    row_weights = log.weights[positions].astype(np.float64)
    last = len(log) - 1
    for distance in range(1, config.window + 1):
        decay = np.exp(-(distance - 1) / config.decay)
        found = False
        # The other item after the row's (forward), then before it (backward).
        for other, direction in (
            (positions + distance, 1.0),
            (positions - distance, config.backward),
        ):
            clipped = np.clip(other, 0, last)
            same_user = (other == clipped) & (log.users[clipped] == users)
            if not same_user.any():
                continue
            found = True
            other = other[same_user]
            weight = np.sqrt(row_weights[same_user] * log.weights[other]) * (decay * direction)
            yield row_items[same_user], log.items[other], weight
        # Rows are sorted by user: no pair at this distance means none further apart.
        if not found:
            return


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
    the pairs ``where`` selects (see `_pairs`; only without ``wanted``)."""
    n = log.n_items
    if wanted is None:
        # Row = the earlier item: its neighbour came after it (forward), and the reverse.
        entries: Iterator[tuple[NDArray, NDArray, NDArray]] = (
            entry
            for first, second, weight in _pairs(log, config, where)
            for entry in (
                (first, second, weight),
                (second, first, weight if config.backward == 1.0 else weight * config.backward),
            )
        )
    else:
        assert where is None, "a selection of pairs applies to whole logs only"
        entries = _pairs_in_rows(log, config, wanted)
    cooccurrence = sp.csr_matrix((n, n), dtype=np.float64)
    # Pairs are gathered a block at a time and summed in one conversion: adding one
    # sparse matrix per distance re-reads the growing total every time.
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    weights: list[NDArray[np.float64]] = []
    for count, (row, col, weight) in enumerate(entries, start=1):
        rows.append(row)
        cols.append(col)
        weights.append(weight)
        if count % _ENTRIES_PER_BLOCK == 0:
            cooccurrence = cooccurrence + _summed(rows, cols, weights, n)
            rows, cols, weights = [], [], []
    if rows:
        cooccurrence = cooccurrence + _summed(rows, cols, weights, n)
    return cooccurrence


def _strongest(
    summed: sp.csr_matrix,
    items: NDArray[np.integer],
    popularity: NDArray[np.float64],
    config: SequentialKNNConfig,
) -> sp.csr_matrix:
    """The kept neighbours of ``items`` (ascending), best first, from their rows of the
    summed co-occurrence. Rows are scored a block at a time: the temporaries of a block
    are small enough for the allocator to reuse, where whole-matrix temporaries would be
    fresh pages every time."""
    n = summed.shape[0]
    items = np.asarray(items, np.int64)
    safe = np.maximum(popularity, 1e-9)
    # Powers per item, not per entry: an entry then costs two lookups and a division.
    row_norm, col_norm = safe**config.alpha, safe ** (1 - config.alpha)
    lengths = np.diff(summed.indptr)[items]
    block_of = np.cumsum(lengths) // _ENTRIES_PER_SCORING_BLOCK
    parts = []
    for block in np.split(items, np.flatnonzero(np.diff(block_of)) + 1):
        rows_of_block = summed[block]
        rows = np.repeat(block, np.diff(rows_of_block.indptr))
        cols = rows_of_block.indices
        off_diagonal = rows != cols  # repeats of the same item are not neighbours
        rows, cols = rows[off_diagonal], cols[off_diagonal]
        scores = rows_of_block.data[off_diagonal] / (row_norm[rows] * col_norm[cols])
        parts.append(_keep_strongest(rows, cols, scores, n, config.neighbours))
    return _assemble(parts, n, np.float32)


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
    scaled into [0, 1). Equal scores keep their order (a stable sort), so the result
    does not depend on how rows were grouped into calls.
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
    order = np.argsort(rows + 0.999 * (1.0 - scores / row_best), kind="stable")
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


def score_users(
    model: ItemNeighbours,
    histories: Sequence[tuple[NDArray[np.integer], NDArray[np.floating]]],
) -> NDArray[np.float64]:
    """`score_items` for many chronological histories at once (one row each): their
    profile weights form a sparse users-by-items matrix, multiplied by the model."""
    rows, items, weights = [], [], []
    for row, (history, history_weights) in enumerate(histories):
        history = np.asarray(history, np.int64)[-model.config.history :]
        if len(history) == 0:
            continue
        recent = np.asarray(history_weights)[-model.config.history :]
        rows.append(np.full(len(history), row, np.int64))
        items.append(history)
        weights.append(profile_weights(recent, model.config))
    if not rows:
        return np.zeros((len(histories), model.n_items))
    profiles = sp.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(items))),
        shape=(len(histories), model.n_items),
    )
    return np.asarray((profiles @ model.matrix).toarray(), np.float64)


def config_dict(config: SequentialKNNConfig) -> dict[str, float]:
    return asdict(config)


def config_from_dict(values: dict[str, object]) -> SequentialKNNConfig:
    """The configuration saved with a model version (keys it does not know are left)."""
    defaults = SequentialKNNConfig()
    known = {f.name: type(getattr(defaults, f.name)) for f in fields(SequentialKNNConfig)}
    return SequentialKNNConfig(
        **{name: kind(values[name]) for name, kind in known.items() if name in values}  # type: ignore[arg-type]
    )
