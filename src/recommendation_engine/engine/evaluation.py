"""Offline evaluation: a temporal hold-out split and top-N ranking metrics.

Protocol: for each user, interactions sorted by time; the last 20% (at least one) are
the test set, the rest the training set. A model trained on the training set ranks the
whole catalogue minus the user's training items, and its top 10/20 are compared with the
test items. Parameters are tuned on a validation split carved from the training set the
same way, never on the test set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recommendation_engine.engine.log import InteractionLog

# Scores of every item for one user (higher is better).
Scorer = Callable[[int], NDArray[np.float64]]
# Scores of every item for each of a batch of users: one row per user.
BatchScorer = Callable[[NDArray[np.int64]], NDArray[np.float64]]
# Users scored at once by `evaluate`.
BATCH_SIZE = 256

METRICS = ("ndcg@10", "recall@10", "recall@20", "hr@10", "precision@10", "map@10", "coverage@10")


def temporal_split(
    log: InteractionLog, fraction: float = 0.2
) -> tuple[InteractionLog, InteractionLog]:
    """Per user, the latest ``fraction`` of interactions (at least one) as the test set.

    Users with a single interaction keep it for training (they have nothing to learn from).
    """
    test = np.zeros(len(log), dtype=bool)
    starts, ends = log.user_bounds()
    for start, end in zip(starts, ends, strict=True):
        size = end - start
        if size < 2:
            continue
        held_out = max(1, round(size * fraction))
        test[end - held_out : end] = True
    return log.select(~test), log.select(test)


@dataclass
class UserHistories:
    """Each user's chronological items and weights, and the set of items they touched."""

    items: dict[int, NDArray[np.int64]]
    weights: dict[int, NDArray[np.float32]]

    @classmethod
    def of(cls, log: InteractionLog) -> UserHistories:
        starts, ends = log.user_bounds()
        items, weights = {}, {}
        for start, end in zip(starts, ends, strict=True):
            user = int(log.users[start])
            items[user] = log.items[start:end]
            weights[user] = log.weights[start:end]
        return cls(items, weights)


def one_at_a_time(scorer: Scorer) -> BatchScorer:
    """A batch scorer asking ``scorer`` for each user in turn."""
    return lambda users: np.vstack([np.asarray(scorer(int(user)), np.float64) for user in users])


def evaluate(scorer: BatchScorer, train: InteractionLog, test: InteractionLog) -> dict[str, float]:
    """Mean ranking metrics of ``scorer`` over every user with test interactions."""
    seen = UserHistories.of(train).items
    wanted = UserHistories.of(test).items
    discount = 1.0 / np.log2(np.arange(2, 22))
    totals = dict.fromkeys(METRICS, 0.0)
    recommended: set[int] = set()
    users = np.fromiter(wanted, dtype=np.int64, count=len(wanted))
    for start in range(0, len(users), BATCH_SIZE):
        batch = users[start : start + BATCH_SIZE]
        for user, row in zip(batch.tolist(), scorer(batch), strict=True):
            _add_user(totals, recommended, discount, row, wanted[user], seen.get(user))
    count = max(len(wanted), 1)
    result = {name: round(value / count, 4) for name, value in totals.items()}
    result["coverage@10"] = round(len(recommended) / max(train.n_items, 1), 4)
    result["users"] = float(len(wanted))
    return result


def _add_user(
    totals: dict[str, float],
    recommended: set[int],
    discount: NDArray[np.float64],
    row: NDArray[np.float64],
    relevant_items: NDArray[np.int64],
    history: NDArray[np.int64] | None,
) -> None:
    """Add one user's metrics to ``totals`` and their top 10 to ``recommended``."""
    relevant = set(relevant_items.tolist())
    scores = np.array(row, dtype=np.float64, copy=True)
    if history is not None and len(history):
        scores[history] = -np.inf
    top = _top(scores, 20)
    hits = np.fromiter((item in relevant for item in top), dtype=bool, count=len(top))
    hits10 = hits[:10]
    ideal = discount[: min(len(relevant), 10)].sum()
    totals["ndcg@10"] += float((hits10 * discount[: len(hits10)]).sum() / ideal)
    totals["recall@10"] += float(hits10.sum()) / len(relevant)
    totals["recall@20"] += float(hits.sum()) / len(relevant)
    totals["hr@10"] += float(hits10.any())
    totals["precision@10"] += float(hits10.sum()) / 10
    precision_at = np.cumsum(hits10) / np.arange(1, len(hits10) + 1)
    totals["map@10"] += float((precision_at * hits10).sum() / min(len(relevant), 10))
    recommended.update(top[:10].tolist())


def _top(scores: NDArray[np.float64], k: int) -> NDArray[np.int64]:
    k = min(k, len(scores))
    candidates = np.argpartition(-scores, k - 1)[:k]
    candidates = candidates[np.isfinite(scores[candidates])]
    return candidates[np.argsort(-scores[candidates], kind="stable")]
