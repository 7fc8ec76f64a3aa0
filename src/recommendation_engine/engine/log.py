"""An interaction log as arrays: who, what, how much, when, sorted by user then time."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class InteractionLog:
    """Interactions of ``n_users`` users with ``n_items`` items.

    Rows are sorted by user, then time (ties keep their original order), so each user's
    history is one contiguous, chronological run.
    """

    users: NDArray[np.int64]
    items: NDArray[np.int64]
    weights: NDArray[np.float32]
    times: NDArray[np.float64]
    n_users: int
    n_items: int

    @classmethod
    def build(
        cls,
        users: NDArray[np.integer],
        items: NDArray[np.integer],
        weights: NDArray[np.floating] | None = None,
        times: NDArray[np.floating] | None = None,
        n_users: int | None = None,
        n_items: int | None = None,
    ) -> InteractionLog:
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        count = len(users)
        weights = np.ones(count, np.float32) if weights is None else np.asarray(weights, np.float32)
        times = (
            np.arange(count, dtype=np.float64) if times is None else np.asarray(times, np.float64)
        )
        order = np.lexsort((np.arange(count), times, users))
        return cls(
            users=users[order],
            items=items[order],
            weights=weights[order],
            times=times[order],
            n_users=int(n_users if n_users is not None else (users.max() + 1 if count else 0)),
            n_items=int(n_items if n_items is not None else (items.max() + 1 if count else 0)),
        )

    def extended(
        self,
        users: NDArray[np.integer],
        items: NDArray[np.integer],
        weights: NDArray[np.floating],
        times: NDArray[np.floating],
        n_users: int,
        n_items: int,
    ) -> tuple[InteractionLog, NDArray[np.bool_]]:
        """This log with more rows, still sorted by user then time (a new row tied with
        an old one comes after it); and which rows of the result are the new ones."""
        all_users = np.concatenate([self.users, np.asarray(users, np.int64)])
        all_times = np.concatenate([self.times, np.asarray(times, np.float64)])
        order = np.lexsort((np.arange(len(all_users)), all_times, all_users))
        combined = InteractionLog(
            users=all_users[order],
            items=np.concatenate([self.items, np.asarray(items, np.int64)])[order],
            weights=np.concatenate([self.weights, np.asarray(weights, np.float32)])[order],
            times=all_times[order],
            n_users=n_users,
            n_items=n_items,
        )
        return combined, order >= len(self)

    def __len__(self) -> int:
        return len(self.users)

    def user_bounds(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Start and end row of each user's run, for the users present in the log."""
        if len(self) == 0:
            empty = np.zeros(0, np.int64)
            return empty, empty
        starts = np.r_[0, np.flatnonzero(np.diff(self.users)) + 1]
        ends = np.r_[starts[1:], len(self)]
        return starts, ends

    def select(self, mask: NDArray[np.bool_]) -> InteractionLog:
        return InteractionLog(
            self.users[mask],
            self.items[mask],
            self.weights[mask],
            self.times[mask],
            self.n_users,
            self.n_items,
        )

    def renumbered(self, items: NDArray[np.integer]) -> InteractionLog:
        """The same rows with item ``i`` numbered ``items[i]`` (a permutation)."""
        return replace(self, items=np.asarray(items, np.int64)[self.items])

    def item_weights(self) -> NDArray[np.float64]:
        """Each item's total interaction weight (its popularity)."""
        return np.bincount(self.items, weights=self.weights, minlength=self.n_items)
