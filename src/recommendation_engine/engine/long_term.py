"""Long-term taste: item-to-item weights from a closed-form linear model (EASE).

The sequential model (`sequential_knn`) looks at what a user did last. This one looks at
everything they did, in no order: it learns, for every item j, how much having each
other item in one's history predicts j, by ridge regression of the users-by-items
matrix on itself with a zero diagonal (Steck, "Embarrassingly Shallow Autoencoders",
2019). With G = XᵀX + λI and P = G⁻¹, the weights are B = -P / diag(P) (column-wise),
diag(B) = 0. Unlike co-occurrence counts, the regression explains an item by each other
item *net of the rest*, which discounts items that co-occur with everything.

The inversion is cubic in the number of items (single precision, by Cholesky: about
0.1 s for 1,700 items, a few seconds for 2,500 on a loaded 2-core machine), so only the
``max_items`` most popular items take part (the rest get no long-term list and receive
no long-term score); and only each item's ``neighbours`` strongest positive weights are
kept, so the model serves like the sequential one: a sparse row per history item,
summed.

A user's long-term score sums the rows of their last ``history`` distinct items, each
with weight 1 (order does not matter here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.linalg import lapack

from recommendation_engine.engine.log import InteractionLog


@dataclass(frozen=True)
class LongTermConfig:
    regularisation: float = 200.0  # λ, added to the Gram matrix's diagonal
    neighbours: int = 200  # weights kept per item
    max_items: int = 2500  # the most popular items the regression covers
    history: int = 100  # most recent interactions of a user that count


@dataclass
class LongTermModel:
    matrix: sp.csr_matrix  # (n_items, n_items) float32; row = history item
    config: LongTermConfig

    @property
    def n_items(self) -> int:
        return self.matrix.shape[0]


def fit(log: InteractionLog, config: LongTermConfig = LongTermConfig()) -> LongTermModel:
    """The regression's strongest weights per item, over the most popular items."""
    n = log.n_items
    positive = log.weights > 0
    counts = np.bincount(log.items[positive], minlength=n)
    covered = np.flatnonzero(counts > 0)
    if covered.size > config.max_items:
        # Most popular first; ties by item number, so the choice is reproducible.
        order = np.lexsort((covered, -counts[covered]))
        covered = np.sort(covered[order[: config.max_items]])
    if covered.size < 2:
        return LongTermModel(sp.csr_matrix((n, n), dtype=np.float32), config)
    column = np.full(n, -1, np.int64)
    column[covered] = np.arange(covered.size)
    keep = positive & (column[log.items] >= 0)
    users, items = log.users[keep], column[log.items[keep]]
    # One entry per (user, item), however often it was repeated.
    x = sp.csr_matrix(
        (np.ones(len(users), np.float64), (users, items)), shape=(log.n_users, covered.size)
    )
    x.data[:] = 1.0
    gram = (x.T @ x).toarray().astype(np.float32)
    gram[np.diag_indices_from(gram)] += config.regularisation
    precision = _inverse_of_positive_definite(gram)
    del gram
    weights = precision / -np.diag(precision)[None, :]
    np.fill_diagonal(weights, 0.0)
    del precision
    rows, cols, values = _strongest_positive(weights, config.neighbours)
    matrix = sp.csr_matrix(
        (values.astype(np.float32), (covered[rows], covered[cols])), shape=(n, n)
    )
    return LongTermModel(matrix, config)


def _inverse_of_positive_definite(matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    """The inverse of a symmetric positive definite matrix, by its Cholesky factor (about
    three times faster than a general inverse); overwrites ``matrix``."""
    factor, info = lapack.spotrf(matrix, lower=False, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"not positive definite (spotrf info {info})")
    inverse, info = lapack.spotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"inversion failed (spotri info {info})")
    # Only the upper triangle is filled in: mirror it.
    lower = np.tril_indices(len(inverse), -1)
    inverse[lower] = inverse.T[lower]
    return inverse


def _strongest_positive(
    weights: NDArray[np.floating], k: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.floating]]:
    """Each row's ``k`` largest positive entries (row, column, value), a block at a time."""
    n = weights.shape[0]
    k = min(k, n - 1)
    rows, cols, values = [], [], []
    block = max(1, 2_000_000 // max(n, 1))
    for start in range(0, n, block):
        part = weights[start : start + block]
        top = np.argpartition(-part, k - 1, axis=1)[:, :k] if k < n else np.argsort(-part, 1)
        chosen = np.take_along_axis(part, top, 1)
        keep = chosen > 0
        rows.append(np.nonzero(keep)[0] + start)
        cols.append(top[keep])
        values.append(chosen[keep])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(values)


def profile(items: NDArray[np.integer], config: LongTermConfig) -> NDArray[np.int64]:
    """The distinct items of a chronological history (oldest first) that count."""
    return np.unique(np.asarray(items, np.int64)[-config.history :])


def score_items(
    model: LongTermModel, items: NDArray[np.integer], weights: NDArray[np.floating] | None = None
) -> NDArray[np.float64]:
    """Long-term scores of every item for one chronological history (``weights`` only
    select: an interaction of weight 0 or less does not count)."""
    return score_users(model, [(items, weights)])[0]


def score_users(
    model: LongTermModel,
    histories: Sequence[tuple[NDArray[np.integer], NDArray[np.floating] | None]],
) -> NDArray[np.float64]:
    """`score_items` for many histories at once (one row each)."""
    return np.asarray(score_matrix(model, histories).toarray(), np.float64)


def score_matrix(
    model: LongTermModel,
    histories: Sequence[tuple[NDArray[np.integer], NDArray[np.floating] | None]],
) -> sp.csr_matrix:
    """`score_users` as a sparse matrix (items no history reaches are not stored)."""
    rows, columns = [], []
    for row, (items, weights) in enumerate(histories):
        items = np.asarray(items, np.int64)
        if weights is not None:
            items = items[np.asarray(weights) > 0]
        chosen = profile(items, model.config)
        rows.append(np.full(chosen.size, row, np.int64))
        columns.append(chosen)
    if not histories:
        return sp.csr_matrix((0, model.n_items))
    profiles = sp.csr_matrix(
        (np.ones(sum(len(c) for c in columns)), (np.concatenate(rows), np.concatenate(columns))),
        shape=(len(histories), model.n_items),
    )
    return sp.csr_matrix(profiles @ model.matrix, dtype=np.float64)
