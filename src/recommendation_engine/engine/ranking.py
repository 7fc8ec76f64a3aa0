"""The ranking pipeline: from a user's history and the model's item lists to the final
list, with the reason of each item and the history entries that explain it.

Pure (no I/O). The service calls it for every request and offline evaluation for every
user, so a figure `evaluate` reports is a figure of the code that serves.

Personalised lists (`score_history`, then `top`): the default model (`engine.ensemble`)
keeps, for each item, one list per source: sequential neighbours, long-term weights and
content neighbours. A user's score from a source sums the lists of their history's items
with that source's profile weights; each source is scaled by the user's best unseen item,
content sharpened, and the sources are added by `source_weights` (the tuned blend, or the
request's). This is `ensemble.score_items` computed from lists instead of matrices, item
for item: a test holds them equal.

Similar entities (`rank`): an entity's collaborative list and the cosine similarity of its
content neighbours, blended by `Blend`.

`Contributions.because` names, for each ranked item, the history entries that
contributed most.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from recommendation_engine.engine import hybrid
from recommendation_engine.engine.ensemble import BlendWeights, EnsembleConfig, EnsembleModel
from recommendation_engine.engine.sequential_knn import profile_weights

Algorithm = Literal["hybrid", "collaborative", "content_based"]
ALGORITHMS: tuple[Algorithm, ...] = ("hybrid", "collaborative", "content_based")

# How many history entries `because` names at most.
BECAUSE = 3


@dataclass(frozen=True, slots=True)
class Blend:
    """Which sources rank, and how the hybrid weighs them (normalised: only the ratio
    counts). Weights left None follow the model's tuned blend (`source_weights`).
    Collaborative alone ranks by its own scores, content-based by content alone."""

    algorithm: Algorithm = "hybrid"
    collaborative_weight: float | None = None
    content_weight: float | None = None

    def __post_init__(self) -> None:
        if (self.collaborative_weight is None) != (self.content_weight is None):
            raise ValueError("give both weights or neither")
        if (
            self.algorithm == "hybrid"
            and self.collaborative_weight is not None
            and self.collaborative_weight + (self.content_weight or 0.0) <= 0
        ):
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
        assert blend.collaborative_weight is not None and blend.content_weight is not None
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
        numbers, items, values = [], [], []
        for number, (found, weight) in enumerate(zip(lists, weights, strict=True)):
            if found is not None and weight > 0:
                numbers.append(number)
                items.append(found[0])
                values.append(found[1])
        if not numbers:
            return cls(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        lengths = np.fromiter((len(i) for i in items), np.int64, len(items))
        chosen = np.asarray(numbers, np.int32)
        entry = np.repeat(chosen, lengths)
        scores = np.concatenate(values).astype(np.float64)
        scores *= np.repeat(np.asarray(weights, np.float64)[chosen], lengths)
        return cls(entry, np.concatenate(items).astype(np.int32, copy=False), scores)

    def only(self, items: Sequence[int]) -> Contributions:
        """The contributions to ``items``."""
        if not items or self.items.size == 0:
            return Contributions(self.entry[:0], self.items[:0], self.scores[:0])
        size = max(int(self.items.max()), max(items)) + 1
        mark = np.zeros(size, bool)
        mark[np.asarray(items, np.int64)] = True
        keep = mark[self.items]
        return Contributions(self.entry[keep], self.items[keep], self.scores[keep])

    def scaled(self, factor: float, entries: NDArray[np.integer]) -> Contributions:
        """Every score times ``factor``, entry ``e`` renamed ``entries[e]``."""
        return Contributions(
            np.asarray(entries, np.int32)[self.entry], self.items, self.scores * factor
        )

    @classmethod
    def concatenate(cls, parts: Sequence[Contributions]) -> Contributions:
        if not parts:
            return cls(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        return cls(
            np.concatenate([p.entry for p in parts]),
            np.concatenate([p.items for p in parts]),
            np.concatenate([p.scores for p in parts]),
        )

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
        return self.only(wanted).named()

    def named(self) -> dict[int, list[int]]:
        """For each item these contributions reach, the entries that contributed most
        to it, the largest first, at most `BECAUSE`."""
        if self.items.size == 0:
            return {}
        items = self.items.astype(np.int64)
        entries = self.entry.astype(np.int64)
        # Each (item, entry) pair's summed score; ties keep the order pairs first occur.
        width = int(entries.max()) + 1
        pairs, first, inverse = np.unique(
            items * width + entries, return_index=True, return_inverse=True
        )
        sums = np.bincount(inverse, self.scores, minlength=pairs.size)
        order = np.lexsort((first, -sums, pairs // width))
        found: dict[int, list[int]] = {}
        for item, entry in zip(
            (pairs // width)[order].tolist(), (pairs % width)[order].tolist(), strict=True
        ):
            named = found.setdefault(item, [])
            if len(named) < BECAUSE:
                named.append(entry)
        return found


# -- personalised lists from the default model's item lists ----------------------------

SOURCES = ("sequential", "long_term", "content")
COLLABORATIVE_SOURCES = ("sequential", "long_term")

List = tuple[NDArray[np.integer], NDArray[np.floating]]


@dataclass(frozen=True, slots=True)
class ItemLists:
    """One model item's list of each source: (items, scores), or None without one."""

    sequential: List | None = None
    long_term: List | None = None
    content: List | None = None
    # The content neighbours' plain cosine similarity, in the content list's order.
    content_similarity: NDArray[np.floating] | None = None

    def of(self, source: str) -> List | None:
        found: List | None = getattr(self, source)
        return found


NO_LISTS = ItemLists()


class ModelLists:
    """The lists of a fitted model's items, read from its matrices (what a build writes
    for each item, `service.training`)."""

    def __init__(self, model: EnsembleModel) -> None:
        self._sources = {
            "sequential": model.sequential.matrix,
            "long_term": model.long_term.matrix if model.long_term is not None else None,
            "content": model.content.matrix if model.content is not None else None,
        }
        self._found: dict[int, ItemLists] = {}

    def of(self, items: NDArray[np.integer]) -> list[ItemLists]:
        return [self.item(item) for item in np.asarray(items).tolist()]

    def item(self, item: int) -> ItemLists:
        found = self._found.get(item)
        if found is None:
            rows = {name: _row(matrix, item) for name, matrix in self._sources.items()}
            found = self._found[item] = ItemLists(**rows)
        return found


def _row(matrix: sp.csr_matrix | None, item: int) -> List | None:
    if matrix is None or item >= matrix.shape[0]:
        return None
    start, end = matrix.indptr[item], matrix.indptr[item + 1]
    if start == end:
        return None
    return matrix.indices[start:end], matrix.data[start:end]


def source_weights(blend: Blend, tuned: BlendWeights) -> BlendWeights:
    """The weight of each source for a request: the model's tuned blend, or the
    request's. A collaborative weight is shared by the sequential and long-term sources
    in their tuned proportion; collaborative alone uses only those two, content-based
    only content."""
    collaborative = tuned.sequential + tuned.long_term
    share = tuned.long_term / collaborative if collaborative > 0 else 0.0
    if blend.algorithm == "content_based":
        return BlendWeights(0.0, 0.0, 1.0, 1.0)
    if blend.algorithm == "collaborative":
        return BlendWeights(1.0 - share, share, 0.0, tuned.content_sharpness)
    if blend.collaborative_weight is None:
        return tuned
    assert blend.content_weight is not None
    return BlendWeights(
        blend.collaborative_weight * (1.0 - share),
        blend.collaborative_weight * share,
        blend.content_weight,
        tuned.content_sharpness,
    )


@dataclass(frozen=True, slots=True)
class Scored:
    """A user's candidates: every item some list of their history reaches, unseen, with
    a positive blended score. ``parts`` holds each source's weighted share of it."""

    items: NDArray[np.int64]
    scores: NDArray[np.float64]
    collaborative: NDArray[np.float64]  # the sequential and long-term shares
    content: NDArray[np.float64]
    # Each source's contributions and the factor that scales them into the blend, and
    # the history position of each entry they name (for `because`).
    sources: tuple[tuple[Contributions, float], ...] = ()
    entries: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    def because(self, items: Sequence[int | None]) -> dict[int, list[int]]:
        """`Contributions.because` of the blend, for ``items`` only (the few a request
        shows: only their contributions are scaled and summed)."""
        wanted = [i for i in items if i is not None]
        if not wanted:
            return {}
        picked = [c.only(wanted).scaled(f, self.entries) for c, f in self.sources]
        return Contributions.concatenate(picked).named()

    def top(self, limit: int | None = None) -> NDArray[np.int64]:
        """Positions in ``items`` of the best ``limit`` (all when None), best first, ties
        by item number (as offline evaluation orders a full catalogue)."""
        if limit is None or limit >= self.items.size:
            return np.lexsort((self.items, -self.scores))
        # The best `limit` and every item tied with the last of them, then ordered.
        threshold = np.partition(-self.scores, limit - 1)[limit - 1]
        chosen = np.flatnonzero(-self.scores <= threshold)
        order = np.lexsort((self.items[chosen], -self.scores[chosen]))
        return chosen[order][:limit]

    def reason(self, position: int) -> Literal["collaborative", "content"]:
        return (
            "collaborative" if self.collaborative[position] >= self.content[position] else "content"
        )


def history_weights(
    weights: NDArray[np.floating], config: EnsembleConfig, source: str
) -> NDArray[np.float64]:
    """What each entry of a chronological history (oldest first, every entry's weight
    positive) adds to a source: the sequential and content sources weigh the latest
    ``sequential.history`` entries by interaction weight and recency; the long-term
    source counts each of the latest ``long_term.history`` distinct items once (here:
    once per entry, the caller passes one entry per item)."""
    count = len(weights)
    out = np.zeros(count)
    if source == "long_term":
        start = max(0, count - config.long_term.history)
        out[start:] = 1.0
        return out
    start = max(0, count - config.sequential.history)
    out[start:] = profile_weights(np.asarray(weights[start:], np.float64), config.sequential)
    return out


def score_history(
    items: NDArray[np.integer],
    weights: NDArray[np.floating],
    lists: Sequence[ItemLists],
    config: EnsembleConfig,
    blend: BlendWeights,
    seen: NDArray[np.integer] | None = None,
) -> Scored:
    """Score a user's chronological history (oldest first): ``items`` their model item
    numbers (-1 for an entity the model does not know), ``weights`` their interaction
    weights (entries of weight 0 or less are left out, as training leaves them out),
    ``lists[i]`` the lists of ``items[i]``. Items in ``seen`` are never candidates and
    do not count in a source's scaling."""
    keep = np.asarray(weights, np.float64) > 0
    entries = np.flatnonzero(keep)
    items = np.asarray(items, np.int64)[keep]
    weights = np.asarray(weights, np.float64)[keep]
    kept_lists = [lists[i] for i in entries]
    used = {s: blend.of(s) for s in SOURCES if blend.of(s) > 0}
    total = sum(used.values())
    parts: dict[str, Contributions] = {}
    for source in used:
        entry_weights = history_weights(weights, config, source)
        if source == "long_term":
            entry_weights = _first_of_each_item(items, entry_weights)
        parts[source] = Contributions.from_lists(
            [
                found.of(source) if item >= 0 else None
                for item, found in zip(items, kept_lists, strict=True)
            ],
            entry_weights,
        )
    # The items reached, found with a dense mark as long as the largest of them, and
    # each source's sums by bincount: far cheaper than sorting the tens of thousands of
    # entries a history's lists hold; the arithmetic then runs over the items reached.
    size = 1 + max((int(c.items.max()) for c in parts.values() if c.items.size), default=-1)
    mark = np.zeros(size, bool)
    for contributions in parts.values():
        mark[contributions.items] = True
    if seen is not None and len(seen):
        seen = np.asarray(seen, np.int64)
        mark[seen[(seen >= 0) & (seen < size)]] = False
    reached = np.flatnonzero(mark)
    collaborative = np.zeros(reached.size)
    content = np.zeros(reached.size)
    scaled: list[tuple[Contributions, float]] = []
    for source, contributions in parts.items():
        sums = np.bincount(contributions.items, contributions.scores, minlength=size)[reached]
        best = float(sums.max()) if sums.size else 0.0
        if best <= 0:
            continue
        factor = used[source] / total
        part = np.maximum(sums, 0.0)
        part /= best
        if source == "content" and blend.content_sharpness != 1.0:
            part **= blend.content_sharpness
        part *= factor
        if source == "content":
            content += part
        else:
            collaborative += part
        scaled.append((contributions, factor / best))
    scores = collaborative + content
    chosen = np.flatnonzero(scores > 0)
    return Scored(
        reached[chosen],
        scores[chosen],
        collaborative[chosen],
        content[chosen],
        tuple(scaled),
        entries,
    )


def _first_of_each_item(
    items: NDArray[np.int64], weights: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``weights`` with only the latest entry of each item kept (the long-term source
    counts an item once however often it recurs)."""
    out = np.zeros_like(weights)
    counted = weights > 0
    positions = np.flatnonzero(counted)
    if positions.size:
        reverse = positions[::-1]
        _, first = np.unique(items[reverse], return_index=True)
        chosen = reverse[first]
        out[chosen] = weights[chosen]
    return out
