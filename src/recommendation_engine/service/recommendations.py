"""Personalised recommendations for a user: collaborative, content-based or hybrid,
filled from popular entities when the user's own signals run out (cold start)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncpg
import numpy as np

from recommendation_engine.engine import content, hybrid
from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.errors import NotFound
from recommendation_engine.models import effective_weight
from recommendation_engine.service.entities import resolve_entity_type
from recommendation_engine.service.interaction_types import InteractionTypeService
from recommendation_engine.service.live_models import LiveModels
from recommendation_engine.service.trending import TrendingService
from recommendation_engine.storage import model_store, vectors
from recommendation_engine.storage import recommendation_queries as queries
from recommendation_engine.storage.model_store import NO_MODEL, ModelRef
from recommendation_engine.storage.recommendation_queries import Candidate, HistoryRow

Algorithm = Literal["hybrid", "collaborative", "content_based"]

# Entities among this many of the user's latest interactions are never recommended back.
SEEN_LIMIT = 1000


@dataclass(slots=True)
class Recommendation:
    entity_type: str
    entity_id: str
    score: float
    reason: str
    because: list[dict[str, str]]
    attributes: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity_id": self.entity_id,
            "entity_type": self.entity_type,
            "score": round(self.score, 6),
            "reason": self.reason,
            "because": self.because,
            "attributes": self.attributes,
        }


@dataclass(slots=True)
class UserRequest:
    tenant_id: str
    user_id: str
    count: int
    algorithm: Algorithm = "hybrid"
    collaborative_weight: float = 0.6
    content_weight: float = 0.4
    entity_type: str | None = None
    exclude: set[str] = field(default_factory=set)
    exclude_seen: bool = True
    filters: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class EntityRequest:
    tenant_id: str
    entity_id: str
    entity_type: str | None
    count: int
    algorithm: Algorithm = "hybrid"
    collaborative_weight: float = 0.6
    content_weight: float = 0.4
    similarity_threshold: float = 0.5
    result_type: str | None = None
    exclude: set[str] = field(default_factory=set)
    filters: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class UserRecommendations:
    recommendations: list[Recommendation]
    cold_start: bool
    model_version: int | None


@dataclass(slots=True)
class SimilarEntities:
    entity_type: str  # the given entity's, resolved when the request left it out
    recommendations: list[Recommendation]
    cold_start: bool  # the entity has no interactions in the live model: content alone


class RecommendationService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        types: InteractionTypeService,
        trending: TrendingService,
        live_models: LiveModels,
        config: knn.SequentialKNNConfig = knn.SequentialKNNConfig(),
    ) -> None:
        self._pool = pool
        self._types = types
        self._trending = trending
        self._live = live_models
        self.config = config

    async def live_version(self, tenant_id: str) -> int | None:
        """The number of the model version requests are answered from now."""
        return await self._live.version(self._pool, tenant_id)

    async def for_user(self, request: UserRequest) -> UserRecommendations:
        types = await self._types.all(request.tenant_id)
        async with self._pool.acquire() as conn:
            model = await self._live.get(conn, request.tenant_id)
            ref = model.ref if model else NO_MODEL
            state = await queries.user_state(
                conn,
                request.tenant_id,
                request.user_id,
                ref,
                history=self.config.history,
                seen=SEEN_LIMIT if request.exclude_seen else 0,
            )
            rows, seen, seen_items = state.history, state.seen, state.seen_items
            rows.reverse()  # oldest first
            weights = np.array([_weight(r, types) for r in rows], dtype=np.float64)
            profile_weights = knn.profile_weights(weights, self.config) if rows else weights
            ranked = await self._rank(conn, request, ref, rows, profile_weights, seen, seen_items)
        cold_start = len(ranked) < request.count
        if cold_start:
            await self._fill_from_trending(request, ranked, seen)
        if len(ranked) < request.count and model is not None:
            async with self._pool.acquire() as conn:
                taken = seen | {(r.entity_type, r.entity_id) for r in ranked}
                popular = await queries.popular(
                    conn,
                    request.tenant_id,
                    ref,
                    request.count - len(ranked),
                    request.entity_type,
                    request.filters,
                    taken,
                    request.exclude,
                )
            for candidate, popularity in popular:
                ranked.append(
                    Recommendation(
                        candidate.entity_type,
                        candidate.entity_id,
                        popularity,
                        "popular",
                        [],
                        candidate.attributes,
                    )
                )
        return UserRecommendations(
            ranked[: request.count], cold_start, model.version if model else None
        )

    async def similar_to(self, request: EntityRequest) -> SimilarEntities:
        """Entities like one entity: by content (its feature-vector neighbours, at least
        SIMILARITY_THRESHOLD similar), by collaboration (users who interacted with it
        also interacted with), or both blended."""
        async with self._pool.acquire() as conn:
            entity_type = await resolve_entity_type(
                conn, request.tenant_id, request.entity_id, request.entity_type
            )
            model = await self._live.get(conn, request.tenant_id)
            ref = model.ref if model else NO_MODEL
            found = await queries.entity_model_row(
                conn, request.tenant_id, ref, entity_type, request.entity_id
            )
            if found is None:
                raise NotFound(
                    f"entity '{request.entity_id}' of type '{entity_type}' does not exist",
                    {"entity_id": request.entity_id, "entity_type": entity_type},
                )
            vector, neighbours, scores = found
            want = hybrid.per_source(request.count)
            ranked_items = np.zeros(0, np.int32)
            collaborative: dict[int, float] = {}
            if request.algorithm != "content_based" and neighbours is not None:
                ranked_items, values = model_store.unpack(neighbours, scores or b"")
                collaborative = dict(
                    zip(ranked_items.tolist(), values.astype(float).tolist(), strict=True)
                )
            content_found: list[Candidate] = []
            if request.algorithm != "collaborative" and vector is not None and np.any(vector):
                content_found = _as_candidates(
                    await vectors.nearest(
                        conn,
                        request.tenant_id,
                        vector,
                        want,
                        entity_type=request.result_type,
                        exclude_ids=sorted(request.exclude | {request.entity_id}),
                        min_similarity=request.similarity_threshold,
                        filters=request.filters,
                        model=ref,
                    )
                )
            similarity = {(c.entity_type, c.entity_id): c.similarity for c in content_found}
            source_key = (entity_type, request.entity_id)
            candidates = await _gather(
                conn,
                request.tenant_id,
                ref,
                ranked_items,
                content_found,
                None,
                request.result_type,
                request.filters,
                want,
                lambda c: (
                    c.entity_id in request.exclude or (c.entity_type, c.entity_id) == source_key
                ),
            )
        collaborative_scores = np.array(
            [collaborative.get(c.item, 0.0) if c.item is not None else 0.0 for c in candidates]
        )
        content_scores = np.array(
            [similarity.get((c.entity_type, c.entity_id)) or 0.0 for c in candidates]
        )
        collaborative_part, content_part = hybrid.components(
            collaborative_scores,
            content_scores,
            request.collaborative_weight if request.algorithm != "content_based" else 0.0,
            request.content_weight if request.algorithm != "collaborative" else 0.0,
        )
        blended = collaborative_part + content_part
        order = sorted(
            (i for i in range(len(candidates)) if blended[i] > 0),
            key=lambda i: (-blended[i], candidates[i].entity_type, candidates[i].entity_id),
        )[: request.count]
        source = {"entity_type": entity_type, "entity_id": request.entity_id}
        ranked = [
            Recommendation(
                candidates[i].entity_type,
                candidates[i].entity_id,
                float(
                    collaborative_scores[i]
                    if request.algorithm == "collaborative"
                    else content_scores[i]
                    if request.algorithm == "content_based"
                    else blended[i]
                ),
                "collaborative" if collaborative_part[i] >= content_part[i] else "content",
                [source],
                candidates[i].attributes,
            )
            for i in order
        ]
        return SimilarEntities(entity_type, ranked, cold_start=neighbours is None)

    async def _fill_from_trending(
        self, request: UserRequest, ranked: list[Recommendation], seen: set[tuple[str, str]]
    ) -> None:
        """Append trending entities (the requested type, filters honoured) up to count."""
        taken = seen | {(r.entity_type, r.entity_id) for r in ranked}
        wanted = request.count - len(ranked)
        items = await self._trending.trending(
            request.tenant_id,
            request.entity_type,
            wanted + len(request.exclude),
            exclude=taken,
            filters=request.filters,
        )
        for item in items:
            if len(ranked) >= request.count:
                break
            if item["entity_id"] in request.exclude:
                continue
            ranked.append(
                Recommendation(
                    item["entity_type"],
                    item["entity_id"],
                    float(item["score"]),
                    "trending",
                    [],
                    item["attributes"],
                )
            )

    async def _rank(
        self,
        conn: asyncpg.Connection,
        request: UserRequest,
        model: ModelRef,
        rows: list[HistoryRow],
        profile_weights: np.ndarray,
        seen: set[tuple[str, str]],
        seen_items: set[int],
    ) -> list[Recommendation]:
        use_collaborative = request.algorithm != "content_based"
        use_content = request.algorithm != "collaborative"
        want = hybrid.per_source(request.count)
        contributions = _contributions(rows, profile_weights if use_collaborative else None)
        totals = contributions.totals(seen_items)
        ranked_items = _ranked(totals)
        profile = _profile(rows, profile_weights) if use_content else None
        content_found: list[Candidate] = []
        if profile is not None:
            content_found = _as_candidates(
                await vectors.nearest(
                    conn,
                    request.tenant_id,
                    profile,
                    want,
                    entity_type=request.entity_type,
                    exclude_ids=sorted(request.exclude | {key[1] for key in seen}),
                    filters=request.filters,
                    model=model,
                )
            )
        found = await _gather(
            conn,
            request.tenant_id,
            model,
            ranked_items,
            content_found,
            profile,
            request.entity_type,
            request.filters,
            want,
            lambda c: (c.entity_type, c.entity_id) in seen or c.entity_id in request.exclude,
        )
        if not found:
            return []
        collaborative_scores = np.array(
            [totals[c.item] if c.item is not None and c.item < totals.size else 0.0 for c in found]
        )
        content_scores = np.array(
            [c.similarity if (c.similarity is not None and use_content) else 0.0 for c in found]
        )
        if request.algorithm == "collaborative":
            scores = collaborative_scores
        elif request.algorithm == "content_based":
            scores = content_scores
        else:
            scores = hybrid.blend(
                collaborative_scores,
                content_scores,
                request.collaborative_weight,
                request.content_weight,
            )
        order = sorted(
            (i for i in range(len(found)) if scores[i] > 0),
            key=lambda i: (-scores[i], found[i].entity_type, found[i].entity_id),
        )[: request.count]
        collaborative_part, content_part = hybrid.components(
            collaborative_scores,
            content_scores,
            request.collaborative_weight,
            request.content_weight,
        )
        because = contributions.because([found[i].item for i in order])
        return [
            Recommendation(
                found[i].entity_type,
                found[i].entity_id,
                float(scores[i]),
                _reason(request, collaborative_part[i], content_part[i]),
                because.get(found[i].item, []) if found[i].item is not None else [],
                found[i].attributes,
            )
            for i in order
        ]


async def _gather(
    conn: asyncpg.Connection,
    tenant_id: str,
    model: ModelRef,
    ranked_items: np.ndarray,
    content_found: list[Candidate],
    profile: np.ndarray | None,
    entity_type: str | None,
    filters: dict[str, str],
    want: int,
    unwanted: Callable[[Candidate], bool],
) -> list[Candidate]:
    """The candidates of both sources that pass the caller's filter: the content ones
    (found by the vector search, which applied the type and attribute filters), and the
    best ``want`` surviving collaborative items (``ranked_items``, best first), looked up
    in growing pages while filters thin them out."""
    found: dict[tuple[str, str], Candidate] = {}
    for candidate in content_found:
        if not unwanted(candidate):
            found.setdefault((candidate.entity_type, candidate.entity_id), candidate)
    known = {c.item for c in found.values() if c.item is not None}
    taken, page, collaborative_found = 0, want, 0
    while True:
        items = ranked_items[taken : taken + page].tolist()
        collaborative_found += sum(1 for item in items if item in known)
        batch = await queries.candidates(
            conn,
            tenant_id,
            model,
            [item for item in items if item not in known],
            profile,
            entity_type,
            filters,
        )
        for candidate in batch:
            if unwanted(candidate):
                continue
            found.setdefault((candidate.entity_type, candidate.entity_id), candidate)
            collaborative_found += 1
        taken += page
        if collaborative_found >= want or taken >= len(ranked_items):
            return list(found.values())
        page *= 4


def _as_candidates(neighbours: list[vectors.Neighbour]) -> list[Candidate]:
    return [
        Candidate(n.item, n.entity_type, n.entity_id, n.similarity, n.attributes)
        for n in neighbours
    ]


def _weight(row: HistoryRow, types: dict) -> float:
    kind = types.get(row.interaction_type)
    weight = effective_weight(row.weight, row.value, kind.default_weight if kind else None)
    return 0.0 if weight is None else weight  # out of range: counts for nothing


@dataclass(frozen=True, slots=True)
class _Contributions:
    """What each history entry adds to each neighbour's collaborative score: for pair
    ``j``, entry ``keys[entry[j]]`` adds ``scores[j]`` to model item ``items[j]``."""

    keys: list[tuple[str, str]]
    entry: np.ndarray
    items: np.ndarray
    scores: np.ndarray

    def totals(self, leave_out: set[int]) -> np.ndarray:
        """Each model item's summed score (indexed by item number), 0 for ``leave_out``."""
        if self.items.size == 0:
            return np.zeros(0)
        totals = np.bincount(self.items, weights=self.scores)
        if leave_out:
            totals[[i for i in leave_out if i < totals.size]] = 0.0
        return totals

    def because(self, items: list[int | None]) -> dict[int, list[dict[str, str]]]:
        """For each item, up to three of the user's own entities that contributed most."""
        wanted = [i for i in items if i is not None]
        if not wanted or self.items.size == 0:
            return {}
        contributions: dict[int, dict[int, float]] = {}
        for j in np.flatnonzero(np.isin(self.items, wanted)).tolist():
            per_item = contributions.setdefault(int(self.items[j]), {})
            entry = int(self.entry[j])
            per_item[entry] = per_item.get(entry, 0.0) + float(self.scores[j])
        return {
            item: [
                {"entity_type": self.keys[e][0], "entity_id": self.keys[e][1]}
                for e in sorted(found, key=found.__getitem__, reverse=True)[:3]
            ]
            for item, found in contributions.items()
        }


def _ranked(totals: np.ndarray) -> np.ndarray:
    """Item numbers with a positive score, best first (ties by item number)."""
    items = np.flatnonzero(totals > 0)
    return items[np.argsort(-totals[items], kind="stable")]


def _contributions(rows: list[HistoryRow], weights: np.ndarray | None) -> _Contributions:
    """The neighbour lists of the history's entries, scaled by their profile weights
    (none when ``weights`` is None)."""
    keys, entries, items, scores = [], [], [], []
    if weights is not None:
        for row, weight in zip(rows, weights, strict=True):
            if row.neighbours is None or weight <= 0:
                continue
            neighbours, values = model_store.unpack(row.neighbours, row.scores or b"")
            entries.append(np.full(neighbours.size, len(keys), np.int32))
            keys.append((row.entity_type, row.entity_id))
            items.append(neighbours)
            scores.append(values.astype(np.float64) * weight)
    if not keys:
        return _Contributions([], np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
    return _Contributions(
        keys, np.concatenate(entries), np.concatenate(items), np.concatenate(scores)
    )


def _profile(rows: list[HistoryRow], weights: np.ndarray) -> np.ndarray | None:
    """The user's content profile, as `evaluate` computes it (engine.content)."""
    usable = [
        (row.vector, w)
        for row, w in zip(rows, weights, strict=True)
        if row.vector is not None and w > 0
    ]
    if not usable:
        return None
    return content.weighted_profile(
        np.stack([v for v, _ in usable]), np.array([w for _, w in usable])
    )


def _reason(request: UserRequest, collaborative_part: float, content_part: float) -> str:
    """The source that contributed more to the item's score."""
    if request.algorithm == "collaborative":
        return "collaborative"
    if request.algorithm == "content_based":
        return "content"
    return "collaborative" if collaborative_part >= content_part else "content"
