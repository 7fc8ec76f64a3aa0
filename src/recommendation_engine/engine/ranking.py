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

Similar entities (`offer_similar`): an entity's collaborative list and the cosine
similarity of its content neighbours, blended by `Blend` (`blended`).

`Scored.because` names, for each ranked item, the history entries that contributed most.
The loops over a history's lists are compiled (`engine.list_kernels`).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from recommendation_engine.engine import hybrid, list_kernels
from recommendation_engine.engine.ensemble import BlendWeights, EnsembleConfig, EnsembleModel

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


@dataclass(frozen=True, slots=True)
class Blended:
    """Each candidate's blended score and each source's weighted part of it."""

    scores: NDArray[np.float64]
    collaborative: NDArray[np.float64]
    content: NDArray[np.float64]

    def reason(self, index: int) -> Literal["collaborative", "content"]:
        """The source that contributed more to a candidate's score."""
        return "collaborative" if self.collaborative[index] >= self.content[index] else "content"


def blended(
    collaborative: NDArray[np.float64], content: NDArray[np.float64], blend: Blend
) -> Blended:
    """The candidates' scores (``collaborative`` and ``content`` hold each candidate's
    score from each source, 0 where a source has none). Hybrid scales each source by its
    best candidate, sharpens content and weighs them; collaborative and content-based
    rank by their own source's scores."""
    collaborative = np.nan_to_num(np.asarray(collaborative, np.float64), neginf=0.0)
    content = np.nan_to_num(np.asarray(content, np.float64), neginf=0.0)
    if blend.algorithm == "collaborative":
        return Blended(collaborative, collaborative, np.zeros_like(content))
    if blend.algorithm == "content_based":
        return Blended(content, np.zeros_like(collaborative), content)
    assert blend.collaborative_weight is not None and blend.content_weight is not None
    collaborative_part, content_part = hybrid.components(
        collaborative, content, blend.collaborative_weight, blend.content_weight
    )
    return Blended(collaborative_part + content_part, collaborative_part, content_part)


def rank(
    collaborative: NDArray[np.float64],
    content: NDArray[np.float64],
    blend: Blend,
    count: int,
    ties: Sequence[Hashable] | None = None,
) -> list[Ranked]:
    """The best ``count`` candidates with a positive `blended` score, best first;
    ``ties`` orders candidates of equal score (by default their position)."""
    scored = blended(collaborative, content, blend)
    scores = scored.scores
    keys = ties if ties is not None else range(len(scores))
    order = sorted(np.flatnonzero(scores > 0).tolist(), key=lambda i: (-scores[i], keys[i]))
    return [Ranked(i, float(scores[i]), scored.reason(i)) for i in order[:count]]


# -- similar entities from an entity's lists -------------------------------------------


@dataclass(frozen=True, slots=True)
class Offered:
    """The candidates an entity's lists offer to its similar list, scored: model
    ``items`` (negative numbers stand for entities found outside the model), their
    `Blended` scores, and ``order``, the positions with a positive score, best first."""

    items: NDArray[np.int64]
    blended: Blended
    order: NDArray[np.intp]


def offer_similar(
    source: int | None,
    sequential: List | None,
    similar: tuple[NDArray[np.integer], NDArray[np.floating]] | None,
    threshold: float,
    depth: int,
    blend: Blend,
    searched: dict[int, float] | None = None,
    cosine: dict[int, float] | None = None,
) -> Offered:
    """What an entity's lists offer to its similar list: the first ``depth`` entries of
    its ``sequential`` list (collaborative scores) and of its content neighbours
    (``similar``: items and their cosine similarity) at least ``threshold`` similar, most
    similar first, the entity ``source`` itself left out; and the ``searched`` items
    (found by vector search, with their similarity). An offered item scores from each
    whole list it is in (``cosine`` gives the similarity of items outside the content
    list). Each source is scaled by its best offer, so a candidate's score does not
    depend on the depth, nor on which others the request's filters keep."""
    parts: list[NDArray[np.integer]] = []
    if sequential is not None:
        neighbours = sequential[0]
        if source is not None:
            neighbours = neighbours[neighbours != source]
        parts.append(neighbours[:depth])
    if similar is not None:
        near, near_similarity = similar
        passing = near_similarity >= threshold
        if source is not None:
            passing &= near != source
        best = np.argsort(-near_similarity[passing], kind="stable")[:depth]
        parts.append(near[passing][best])
    found = {item: value for item, value in (searched or {}).items() if value >= threshold}
    parts.append(np.fromiter(found, np.int64, len(found)))
    offered = dict.fromkeys(np.concatenate(parts).tolist())
    items = np.fromiter(offered, np.int64, len(offered))
    collaborative = np.zeros(items.size)
    if sequential is not None:
        collaborative = _look_up(sequential[0], sequential[1], items)[0]
    # Similarities: those given, then the content list's, then those found by search.
    given = cosine or {}
    content = np.array([given.get(i, 0.0) for i in offered], np.float64)
    if similar is not None:
        listed, in_list = _look_up(similar[0], similar[1], items)
        content[in_list] = listed[in_list]
    for position, item in enumerate(offered):
        if item in found:
            content[position] = found[item]
    scored = blended(collaborative, np.where(content >= threshold, content, 0.0), blend)
    positive = np.flatnonzero(scored.scores > 0)
    return Offered(items, scored, positive[np.argsort(-scored.scores[positive], kind="stable")])


def _look_up(
    keys: NDArray[np.integer], values: NDArray[np.floating], wanted: NDArray[np.integer]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The value of each ``wanted`` key in ``keys`` (distinct; 0 where it has none), and
    whether it has one."""
    out = np.zeros(wanted.size)
    if keys.size == 0 or wanted.size == 0:
        return out, np.zeros(wanted.size, np.bool_)
    order = np.argsort(keys, kind="stable")
    at = order[np.minimum(np.searchsorted(keys, wanted, sorter=order), keys.size - 1)]
    hit = keys[at] == wanted
    out[hit] = values[at[hit]]
    return out, hit


# -- personalised lists from the default model's item lists ----------------------------

SOURCES = ("sequential", "long_term", "content")
COLLABORATIVE_SOURCES = ("sequential", "long_term")

List = tuple[NDArray[np.integer], NDArray[np.floating]]


@dataclass(frozen=True, slots=True)
class Joined:
    """An item's lists end to end, for the compiled loops: source ``s`` (in `SOURCES`
    order) holds ``items[bounds[s]:bounds[s + 1]]`` with ``scores`` the same."""

    items: NDArray[np.int32]
    scores: NDArray[np.floating]
    bounds: tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class ItemLists:
    """One model item's list of each source: (items, scores), or None without one."""

    sequential: List | None = None
    long_term: List | None = None
    content: List | None = None
    # The content neighbours' plain cosine similarity, in the content list's order.
    content_similarity: NDArray[np.floating] | None = None
    # The three lists end to end (`built` makes the lists views of it).
    joined: Joined | None = None

    def of(self, source: str) -> List | None:
        found: List | None = getattr(self, source)
        return found

    @classmethod
    def built(
        cls,
        sequential: List | None,
        long_term: List | None,
        content: List | None,
        content_similarity: NDArray[np.floating] | None = None,
    ) -> ItemLists:
        """Lists laid end to end once, each source's a view of the whole."""
        parts = (sequential, long_term, content)
        if all(part is None for part in parts):
            return cls(content_similarity=content_similarity)
        return cls.of_joined(
            _join(parts), tuple(part is not None for part in parts), content_similarity
        )

    @classmethod
    def of_joined(
        cls,
        joined: Joined,
        present: tuple[bool, ...],
        content_similarity: NDArray[np.floating] | None = None,
    ) -> ItemLists:
        """Lists already laid end to end: source ``s`` is a view of ``joined`` when
        ``present[s]``, else None."""
        bounds = joined.bounds
        views = [
            (joined.items[bounds[s] : bounds[s + 1]], joined.scores[bounds[s] : bounds[s + 1]])
            if present[s]
            else None
            for s in range(len(SOURCES))
        ]
        return cls(*views, content_similarity=content_similarity, joined=joined)

    def joined_lists(self) -> Joined | None:
        """`joined`, or (lists made without `built`) the lists laid end to end now."""
        if self.joined is not None:
            return self.joined
        parts = (self.sequential, self.long_term, self.content)
        return None if all(part is None for part in parts) else _join(parts)


def source_bounds(lengths: Sequence[int]) -> tuple[int, int, int, int]:
    """`Joined.bounds` of the sources' lists of these lengths (in `SOURCES` order, 0 for
    a source without one), laid end to end."""
    bounds = [0]
    for length in lengths:
        bounds.append(bounds[-1] + length)
    return (bounds[0], bounds[1], bounds[2], bounds[3])


def _join(parts: tuple[List | None, List | None, List | None]) -> Joined:
    present = [part for part in parts if part is not None]
    return Joined(
        np.concatenate([part[0] for part in present]).astype(np.int32, copy=False),
        np.concatenate([part[1] for part in present]),
        source_bounds([0 if part is None else len(part[0]) for part in parts]),
    )


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
            rows = [row_of(matrix, item) for matrix in self._sources.values()]
            found = self._found[item] = ItemLists.built(*rows)
        return found


def row_of(matrix: sp.csr_matrix | None, item: int) -> List | None:
    """Row ``item`` of a list matrix as views of its columns and values (a scipy row
    slice would build a matrix: some 50 µs); None when it is empty or absent."""
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
class Pairs:
    """What a history's entries add to the items their lists reach. Block ``b`` holds
    the joined lists (`Joined`) of entry ``block_entry[b]``: ``items[block_start[b]:
    block_start[b + 1]]``, source ``s`` from ``bounds[b, s]`` to ``bounds[b, s + 1]``
    within it, each score times ``weights[s, b]`` (the entry's profile weight for the
    source, 0: left out). ``scale`` holds the factor that took each source into the
    blend (0: it took no part)."""

    block_entry: NDArray[np.int64]
    block_start: NDArray[np.int64]
    bounds: NDArray[np.int64]
    weights: NDArray[np.float64]
    items: NDArray[np.int32]
    scores: NDArray[np.floating]
    scale: NDArray[np.float64]
    n_entries: int
    size: int  # one more than the largest item reached


@dataclass(frozen=True, slots=True)
class Scored:
    """A user's candidates: every item some list of their history reaches, unseen, with
    a positive blended score (in no particular order), and each one's collaborative
    (sequential and long-term) and content shares of it."""

    items: NDArray[np.int64]
    scores: NDArray[np.float64]
    collaborative: NDArray[np.float64]
    content: NDArray[np.float64]
    # The contributions the scores were summed from, and the history position of each
    # entry they name (for `because`).
    pairs: Pairs | None = None
    entries: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    def because(self, items: Sequence[int | None]) -> dict[int, list[int]]:
        """For each of ``items``, the history entries (their positions) whose weighted
        contributions to its blended score sum largest, the largest first, at most
        `BECAUSE` (ties: the entry that contributed first)."""
        pairs = self.pairs
        wanted = list(dict.fromkeys(i for i in items if i is not None and i >= 0))
        if not wanted or pairs is None:
            return {}
        asked = np.asarray(wanted, np.int64)
        size = max(int(asked.max()) + 1, pairs.size)
        named = list_kernels.because(
            list_kernels.slots(size),
            asked,
            pairs.block_entry,
            pairs.block_start,
            pairs.bounds,
            pairs.weights,
            pairs.items,
            pairs.scores,
            pairs.scale,
            pairs.n_entries,
            BECAUSE,
        )
        positions = self.entries.tolist()
        found: dict[int, list[int]] = {}
        for item, row in zip(wanted, named.tolist(), strict=True):
            if row[0] >= 0:
                found[item] = [positions[e] for e in row if e >= 0]
        return found

    def top(self, limit: int | None = None) -> NDArray[np.int64]:
        """Positions in ``items`` of the best ``limit`` (all when None), best first, ties
        by item number (as offline evaluation orders a full catalogue)."""
        if limit is None or limit >= self.items.size:
            return np.lexsort((self.items, -self.scores))
        return list_kernels.top(
            np.asarray(self.scores, np.float64), np.asarray(self.items, np.int64), limit
        )

    def reason(self, position: int) -> Literal["collaborative", "content"]:
        return (
            "collaborative" if self.collaborative[position] >= self.content[position] else "content"
        )


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
    do not count in a source's scaling.

    Each source sums the lists of the history's items, weighted by
    `list_kernels.block_weights`, is scaled by its best unseen item (content then
    sharpened) and weighed by the blend (`list_kernels.accumulate`)."""
    weights = np.asarray(weights, np.float64)
    entries = np.flatnonzero(weights > 0)
    kept = np.asarray(items, np.int64)[entries]
    used = [blend.sequential, blend.long_term, blend.content]
    total = sum(w for w in used if w > 0)
    factors = np.array([w / total if w > 0 else 0.0 for w in used])
    # One block per kept entry with lists: its lists end to end.
    block_entry: list[int] = []
    joined: list[Joined] = []
    for number, (item, entry) in enumerate(zip(kept.tolist(), entries.tolist(), strict=True)):
        if item >= 0 and (found := lists[entry].joined_lists()) is not None:
            block_entry.append(number)
            joined.append(found)
    if not joined:
        empty = np.zeros(0)
        return Scored(np.zeros(0, np.int64), empty, empty, empty)
    n_blocks = len(joined)
    all_items = np.concatenate([j.items for j in joined])
    all_scores = np.concatenate([j.scores for j in joined])
    block_bounds = np.fromiter(
        itertools.chain.from_iterable(j.bounds for j in joined), np.int64, 4 * n_blocks
    ).reshape(n_blocks, 4)
    starts = np.zeros(n_blocks + 1, np.int64)
    np.cumsum(block_bounds[:, 3], out=starts[1:])
    blocks = np.array(block_entry, np.int64)
    left_out = np.zeros(0, np.int64) if seen is None else np.asarray(seen, np.int64)
    size = max(int(all_items.max()), int(kept.max())) + 1
    slot = list_kernels.slots(size)
    block_weights = list_kernels.block_weights(
        slot,
        kept,
        weights[entries],
        blocks,
        factors,
        config.sequential.history,
        float(config.sequential.half_life),
        config.long_term.history,
    )
    reached, blended, collaborative, content, scale = list_kernels.accumulate(
        slot,
        starts,
        block_bounds,
        block_weights,
        all_items,
        all_scores,
        left_out,
        factors,
        float(blend.content_sharpness),
    )
    pairs = Pairs(
        blocks,
        starts,
        block_bounds,
        block_weights,
        all_items,
        all_scores,
        scale,
        kept.size,
        size,
    )
    return Scored(reached, blended, collaborative, content, pairs, entries)
