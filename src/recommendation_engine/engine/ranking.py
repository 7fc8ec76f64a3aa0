"""The ranking pipeline: from each source's scores for a set of candidates to the final
list, with the reason of each item and the history entries that explain it.

Pure (no I/O). The service calls it for every request and offline evaluation for every
user, so a figure `evaluate` reports is a figure of the code that serves:

1. each source scores the user's candidates: collaborative, by summing the neighbour
   lists of their history (`Contributions`); content-based, by similarity to their
   profile (`engine.content`);
2. each source offers its best `hybrid.per_source(count)` (`shortlist`);
3. `rank` blends the union by the weights of `Blend` and orders it, ties broken by the
   caller's keys;
4. `Contributions.because` names, for each ranked item, the history entries that
   contributed most.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from recommendation_engine.engine import hybrid

Algorithm = Literal["hybrid", "collaborative", "content_based"]
ALGORITHMS: tuple[Algorithm, ...] = ("hybrid", "collaborative", "content_based")

# How many history entries `because` names at most.
BECAUSE = 3


@dataclass(frozen=True, slots=True)
class Blend:
    """Which sources rank, and how the hybrid weighs them (normalised: only the ratio
    counts). Collaborative alone ranks by its raw scores, content-based by similarity."""

    algorithm: Algorithm = "hybrid"
    collaborative_weight: float = 0.6
    content_weight: float = 0.4

    def __post_init__(self) -> None:
        if self.algorithm == "hybrid" and self.collaborative_weight + self.content_weight <= 0:
            raise ValueError("collaborative_weight and content_weight cannot both be 0")

    @property
    def uses_collaborative(self) -> bool:
        return self.algorithm != "content_based"

    @property
    def uses_content(self) -> bool:
        return self.algorithm != "collaborative"


@dataclass(frozen=True, slots=True)
class Ranked:
    index: int  # the candidate's position in the arrays given to `rank`
    score: float
    reason: Literal["collaborative", "content"]


def rank(
    collaborative: NDArray[np.float64],
    content: NDArray[np.float64],
    blend: Blend,
    count: int,
    ties: Sequence[Hashable] | None = None,
) -> list[Ranked]:
    """The best ``count`` candidates with a positive score, best first.

    ``collaborative`` and ``content`` hold each candidate's score from each source (0
    where a source has none); ``ties`` orders candidates of equal score (by default
    their position). Hybrid scores each source scaled by its best candidate, content
    sharpened, weighted; the reason is the source that contributed more."""
    collaborative = np.nan_to_num(np.asarray(collaborative, np.float64), neginf=0.0)
    content = np.nan_to_num(np.asarray(content, np.float64), neginf=0.0)
    if blend.algorithm == "collaborative":
        scores, collaborative_part, content_part = (
            collaborative,
            collaborative,
            np.zeros_like(content),
        )
    elif blend.algorithm == "content_based":
        scores, collaborative_part, content_part = content, np.zeros_like(collaborative), content
    else:
        collaborative_part, content_part = hybrid.components(
            collaborative, content, blend.collaborative_weight, blend.content_weight
        )
        scores = collaborative_part + content_part
    keys = ties if ties is not None else range(len(scores))
    order = sorted(np.flatnonzero(scores > 0).tolist(), key=lambda i: (-scores[i], keys[i]))
    return [
        Ranked(
            i,
            float(scores[i]),
            "collaborative" if collaborative_part[i] >= content_part[i] else "content",
        )
        for i in order[:count]
    ]


def shortlist(scores: NDArray[np.float64], size: int) -> NDArray[np.int64]:
    """The positions of the best ``size`` positive, finite scores (in no order)."""
    usable = np.flatnonzero(np.isfinite(scores) & (scores > 0))
    if usable.size <= size:
        return usable
    return usable[np.argpartition(-scores[usable], size - 1)[:size]]


@dataclass(frozen=True, slots=True)
class Contributions:
    """What each history entry adds to each neighbour's collaborative score: pair ``j``
    adds ``scores[j]`` to model item ``items[j]``, on behalf of entry ``entry[j]``."""

    entry: NDArray[np.int32]
    items: NDArray[np.int32]
    scores: NDArray[np.float64]

    @classmethod
    def from_lists(
        cls,
        lists: Sequence[tuple[NDArray[np.integer], NDArray[np.floating]] | None],
        weights: NDArray[np.floating],
    ) -> Contributions:
        """The neighbour lists (items, scores) of a history's entries, each scaled by the
        entry's profile weight; entries without a list or with a weight <= 0 add
        nothing."""
        entries, items, scores = [], [], []
        for number, (found, weight) in enumerate(zip(lists, weights, strict=True)):
            if found is None or weight <= 0:
                continue
            neighbours, values = found
            entries.append(np.full(len(neighbours), number, np.int32))
            items.append(np.asarray(neighbours, np.int32))
            scores.append(np.asarray(values, np.float64) * float(weight))
        if not entries:
            return cls(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        return cls(np.concatenate(entries), np.concatenate(items), np.concatenate(scores))

    def totals(self, n_items: int = 0, leave_out: set[int] | None = None) -> NDArray[np.float64]:
        """Each model item's summed score, indexed by item number (at least ``n_items``
        long); 0 for the items of ``leave_out``."""
        totals = np.bincount(self.items, weights=self.scores, minlength=n_items)
        if leave_out:
            totals[[i for i in leave_out if i < totals.size]] = 0.0
        return totals

    def because(self, items: Sequence[int | None]) -> dict[int, list[int]]:
        """For each item, the history entries (their positions) that contributed most
        to it, the largest first, at most `BECAUSE`."""
        wanted = [i for i in items if i is not None]
        if not wanted or self.items.size == 0:
            return {}
        found: dict[int, dict[int, float]] = {}
        for j in np.flatnonzero(np.isin(self.items, wanted)).tolist():
            per_item = found.setdefault(int(self.items[j]), {})
            entry = int(self.entry[j])
            per_item[entry] = per_item.get(entry, 0.0) + float(self.scores[j])
        return {
            item: sorted(entries, key=entries.__getitem__, reverse=True)[:BECAUSE]
            for item, entries in found.items()
        }


def ranked_items(totals: NDArray[np.float64]) -> NDArray[np.int64]:
    """Item numbers with a positive score, best first (ties by item number)."""
    items = np.flatnonzero(totals > 0)
    return items[np.argsort(-totals[items], kind="stable")]
