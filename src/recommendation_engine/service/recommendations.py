"""Recommendation answers: personalised lists, similar entities and trending ones.

The service does the I/O around the engine's ranking pipeline (`engine.ranking`): it
applies the tenant's defaults to a request, reads the live model once, answers from the
response cache or reads what the engine needs (the user's history with its neighbour
lists, candidates, fallbacks), calls the engine, and renders the answer as JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np

from recommendation_engine import metrics
from recommendation_engine.engine import content, hybrid, ranking
from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine.ranking import Algorithm, Blend, Contributions
from recommendation_engine.errors import BadRequest, NotFound
from recommendation_engine.models import effective_weight
from recommendation_engine.serialization import dumps
from recommendation_engine.service.entities import resolve_entity_type
from recommendation_engine.service.interaction_types import InteractionTypeService
from recommendation_engine.service.live_models import LiveModels
from recommendation_engine.service.tenants import TenantConfig, TenantService
from recommendation_engine.service.trending import TrendingService
from recommendation_engine.storage import model_store, vectors
from recommendation_engine.storage import recommendation_queries as queries
from recommendation_engine.storage.cache import ResponseCache, digest
from recommendation_engine.storage.model_store import NO_MODEL, ModelInfo, ModelRef
from recommendation_engine.storage.recommendation_queries import Candidate, HistoryRow

__all__ = ["Algorithm", "RecommendationService", "SimilarQuery", "TrendingQuery", "UserQuery"]

# Entities among this many of the user's latest interactions are never recommended back.
SEEN_LIMIT = 1000


@dataclass(slots=True)
class UserQuery:
    """A request for a user's recommendations, as sent: what is left out follows the
    tenant's settings."""

    user_id: str
    count: int | None = None
    algorithm: Algorithm = "hybrid"
    collaborative_weight: float | None = None
    content_weight: float | None = None
    entity_type: str | None = None
    exclude: set[str] = field(default_factory=set)
    exclude_seen: bool = True
    filters: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class SimilarQuery:
    """A request for entities similar to one entity; ``user_id`` names the user the list
    is shown to, when known (for experiments and attribution; it does not change the
    list)."""

    entity_id: str
    entity_type: str | None = None
    count: int | None = None
    algorithm: Algorithm = "hybrid"
    result_type: str | None = None
    exclude: set[str] = field(default_factory=set)
    filters: dict[str, str] = field(default_factory=dict)
    user_id: str | None = None
    collaborative_weight: float | None = None
    content_weight: float | None = None


@dataclass(slots=True)
class TrendingQuery:
    entity_type: str | None = None
    count: int | None = None
    window_days: int = 7


@dataclass(frozen=True, slots=True)
class Answer:
    """A rendered JSON answer and where it came from: "memory", "redis" or "computed"."""

    body: bytes
    source: str


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


def resolve_count(count: int | None, config: TenantConfig) -> int:
    count = count or config.default_recommendation_count
    if count > config.max_recommendation_count:
        raise BadRequest(
            f"count must be at most {config.max_recommendation_count}",
            {"max_recommendation_count": config.max_recommendation_count},
        )
    return count


def resolve_weights(
    collaborative: float | None, content_weight: float | None, defaults: tuple[float, float]
) -> tuple[float, float]:
    """Request weights over defaults; one weight alone implies the other as 1 - it."""
    if collaborative is None and content_weight is None:
        return defaults
    if collaborative is None:
        assert content_weight is not None
        collaborative = max(0.0, 1.0 - content_weight) if content_weight <= 1 else defaults[0]
    if content_weight is None:
        content_weight = max(0.0, 1.0 - collaborative) if collaborative <= 1 else defaults[1]
    if collaborative + content_weight <= 0:
        raise BadRequest("collaborative_weight and content_based_weight cannot both be 0")
    return collaborative, content_weight


class RecommendationService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        types: InteractionTypeService,
        trending: TrendingService,
        live_models: LiveModels,
        tenants: TenantService,
        cache: ResponseCache,
    ) -> None:
        self._pool = pool
        self._types = types
        self._trending = trending
        self._live = live_models
        self._tenants = tenants
        self._cache = cache

    async def _live_model(self, tenant_id: str) -> ModelInfo | None:
        """The tenant's live model version, read once per request (at most once a second
        per replica; a connection is taken only when it must be read)."""
        return await self._live.current(self._pool, tenant_id)

    async def _answer(
        self,
        tenant_id: str,
        user_id: str | None,
        key: str,
        compute: Callable[[], Awaitable[dict[str, Any]]],
    ) -> Answer:
        async def render() -> bytes:
            body = await compute()
            body["generated_at"] = datetime.now(UTC)
            return dumps(body)

        return Answer(*await self._cache.get_or_compute(tenant_id, user_id, key, render))

    # Personalised recommendations ----------------------------------------------------

    async def user_answer(self, tenant_id: str, query: UserQuery) -> Answer:
        config = await self._tenants.config(tenant_id)
        count = resolve_count(query.count, config)
        weights = resolve_weights(
            query.collaborative_weight,
            query.content_weight,
            (config.collaborative_weight, config.content_based_weight),
        )
        blend = Blend(query.algorithm, *weights)
        model = await self._live_model(tenant_id)
        key = digest(
            "user",
            model.version if model else None,
            count,
            blend,
            query.entity_type,
            sorted(query.exclude),
            query.exclude_seen,
            sorted(query.filters.items()),
        )

        async def compute() -> dict[str, Any]:
            ranked, cold_start = await self._for_user(tenant_id, query, count, blend, model)
            return {
                "user_id": query.user_id,
                "algorithm": query.algorithm,
                "count": len(ranked),
                "recommendations": [r.as_dict() for r in ranked],
                "cold_start": cold_start,
                "model_version": model.version if model else None,
            }

        answer = await self._answer(tenant_id, query.user_id, key, compute)
        metrics.RECOMMENDATIONS_SERVED.labels("user", query.algorithm).inc()
        return answer

    async def _for_user(
        self,
        tenant_id: str,
        query: UserQuery,
        count: int,
        blend: Blend,
        model: ModelInfo | None,
    ) -> tuple[list[Recommendation], bool]:
        types = await self._types.all(tenant_id)
        config = knn.config_from_dict(model.config) if model else knn.SequentialKNNConfig()
        ref = model.ref if model else NO_MODEL
        async with self._pool.acquire() as conn:
            state = await queries.user_state(
                conn,
                tenant_id,
                query.user_id,
                ref,
                history=config.history,
                seen=SEEN_LIMIT if query.exclude_seen else 0,
            )
            rows, seen = state.history, state.seen
            rows.reverse()  # oldest first
            weights = np.array([_weight(r, types) for r in rows], dtype=np.float64)
            profile_weights = knn.profile_weights(weights, config) if rows else weights
            ranked = await self._rank_user(
                conn, tenant_id, query, count, blend, ref, rows, profile_weights, state
            )
        cold_start = len(ranked) < count
        if cold_start:
            await self._fill_from_trending(tenant_id, query, count, ranked, seen)
        if len(ranked) < count and model is not None:
            await self._fill_from_popular(tenant_id, query, count, ref, ranked, seen)
        return ranked[:count], cold_start

    async def _rank_user(
        self,
        conn: asyncpg.Connection,
        tenant_id: str,
        query: UserQuery,
        count: int,
        blend: Blend,
        model: ModelRef,
        rows: list[HistoryRow],
        profile_weights: np.ndarray,
        state: queries.UserState,
    ) -> list[Recommendation]:
        want = hybrid.per_source(count)
        contributions = Contributions.from_lists(
            [_neighbours(row) for row in rows] if blend.uses_collaborative else [None] * len(rows),
            profile_weights,
        )
        totals = contributions.totals(leave_out=state.seen_items)
        profile = _profile(rows, profile_weights) if blend.uses_content else None
        content_found: list[Candidate] = []
        if profile is not None:
            content_found = _as_candidates(
                await vectors.nearest(
                    conn,
                    tenant_id,
                    profile,
                    want,
                    entity_type=query.entity_type,
                    exclude_ids=sorted(query.exclude | {key[1] for key in state.seen}),
                    filters=query.filters,
                    model=model,
                )
            )
        found = await _gather(
            conn,
            tenant_id,
            model,
            ranking.ranked_items(totals),
            content_found,
            profile,
            query.entity_type,
            query.filters,
            want,
            lambda c: (c.entity_type, c.entity_id) in state.seen or c.entity_id in query.exclude,
        )
        if not found:
            return []
        collaborative = np.array(
            [totals[c.item] if c.item is not None and c.item < totals.size else 0.0 for c in found]
        )
        similarity = np.array(
            [
                c.similarity if c.similarity is not None and blend.uses_content else 0.0
                for c in found
            ]
        )
        ranked = ranking.rank(
            collaborative, similarity, blend, count, [(c.entity_type, c.entity_id) for c in found]
        )
        because = contributions.because([found[r.index].item for r in ranked])
        return [
            Recommendation(
                found[r.index].entity_type,
                found[r.index].entity_id,
                r.score,
                r.reason,
                [_key(rows[e]) for e in because.get(found[r.index].item or -1, [])],
                found[r.index].attributes,
            )
            for r in ranked
        ]

    async def _fill_from_trending(
        self,
        tenant_id: str,
        query: UserQuery,
        count: int,
        ranked: list[Recommendation],
        seen: set[tuple[str, str]],
    ) -> None:
        """Append trending entities (the requested type, filters honoured) up to count."""
        taken = seen | {(r.entity_type, r.entity_id) for r in ranked}
        wanted = count - len(ranked)
        items = await self._trending.trending(
            tenant_id,
            query.entity_type,
            wanted + len(query.exclude),
            exclude=taken,
            filters=query.filters,
        )
        for item in items:
            if len(ranked) >= count:
                break
            if item["entity_id"] in query.exclude:
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

    async def _fill_from_popular(
        self,
        tenant_id: str,
        query: UserQuery,
        count: int,
        model: ModelRef,
        ranked: list[Recommendation],
        seen: set[tuple[str, str]],
    ) -> None:
        """Append the model's most popular entities (type and filters honoured) up to count."""
        async with self._pool.acquire() as conn:
            taken = seen | {(r.entity_type, r.entity_id) for r in ranked}
            popular = await queries.popular(
                conn,
                tenant_id,
                model,
                count - len(ranked),
                query.entity_type,
                query.filters,
                taken,
                query.exclude,
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

    # Similar entities -------------------------------------------------------------------

    async def similar_answer(self, tenant_id: str, query: SimilarQuery) -> Answer:
        config = await self._tenants.config(tenant_id)
        count = resolve_count(query.count, config)
        weights = resolve_weights(
            query.collaborative_weight,
            query.content_weight,
            (config.collaborative_weight, config.content_based_weight),
        )
        blend = Blend(query.algorithm, *weights)
        model = await self._live_model(tenant_id)
        key = digest(
            "similar",
            model.version if model else None,
            query.entity_id,
            query.entity_type,
            count,
            blend,
            config.similarity_threshold,
            query.result_type,
            sorted(query.exclude),
            sorted(query.filters.items()),
        )

        async def compute() -> dict[str, Any]:
            entity_type, ranked, cold_start = await self._similar_to(
                tenant_id, query, count, blend, config.similarity_threshold, model
            )
            return {
                "entity_id": query.entity_id,
                "entity_type": entity_type,
                "algorithm": query.algorithm,
                "count": len(ranked),
                "recommendations": [r.as_dict() for r in ranked],
                "cold_start": cold_start,
            }

        answer = await self._answer(tenant_id, None, key, compute)
        metrics.RECOMMENDATIONS_SERVED.labels("similar", query.algorithm).inc()
        return answer

    async def _similar_to(
        self,
        tenant_id: str,
        query: SimilarQuery,
        count: int,
        blend: Blend,
        threshold: float,
        model: ModelInfo | None,
    ) -> tuple[str, list[Recommendation], bool]:
        """Entities like one entity: by content (its feature-vector neighbours, at least
        ``threshold`` similar), by collaboration (users who interacted with it also
        interacted with), or both blended. Returns the entity's type (resolved when the
        query left it out), the list, and whether the entity is new to the model (its
        list then comes from content alone)."""
        ref = model.ref if model else NO_MODEL
        async with self._pool.acquire() as conn:
            entity_type = await resolve_entity_type(
                conn, tenant_id, query.entity_id, query.entity_type
            )
            found = await queries.entity_model_row(
                conn, tenant_id, ref, entity_type, query.entity_id
            )
            if found is None:
                raise NotFound(
                    f"entity '{query.entity_id}' of type '{entity_type}' does not exist",
                    {"entity_id": query.entity_id, "entity_type": entity_type},
                )
            vector, neighbours, scores = found
            want = hybrid.per_source(count)
            ranked_items = np.zeros(0, np.int64)
            collaborative: dict[int, float] = {}
            if blend.uses_collaborative and neighbours is not None:
                items, values = model_store.unpack(neighbours, scores or b"")
                ranked_items = items.astype(np.int64)
                collaborative = dict(
                    zip(items.tolist(), values.astype(float).tolist(), strict=True)
                )
            content_found: list[Candidate] = []
            if blend.uses_content and vector is not None and np.any(vector):
                content_found = _as_candidates(
                    await vectors.nearest(
                        conn,
                        tenant_id,
                        vector,
                        want,
                        entity_type=query.result_type,
                        exclude_ids=sorted(query.exclude | {query.entity_id}),
                        min_similarity=threshold,
                        filters=query.filters,
                        model=ref,
                    )
                )
            similarity = {(c.entity_type, c.entity_id): c.similarity for c in content_found}
            source_key = (entity_type, query.entity_id)
            candidates = await _gather(
                conn,
                tenant_id,
                ref,
                ranked_items,
                content_found,
                None,
                query.result_type,
                query.filters,
                want,
                lambda c: (
                    c.entity_id in query.exclude or (c.entity_type, c.entity_id) == source_key
                ),
            )
        ranked = ranking.rank(
            np.array(
                [collaborative.get(c.item, 0.0) if c.item is not None else 0.0 for c in candidates]
            ),
            np.array([similarity.get((c.entity_type, c.entity_id)) or 0.0 for c in candidates]),
            blend,
            count,
            [(c.entity_type, c.entity_id) for c in candidates],
        )
        source = {"entity_type": entity_type, "entity_id": query.entity_id}
        recommendations = [
            Recommendation(
                candidates[r.index].entity_type,
                candidates[r.index].entity_id,
                r.score,
                r.reason,
                [source],
                candidates[r.index].attributes,
            )
            for r in ranked
        ]
        return entity_type, recommendations, neighbours is None

    # Trending ---------------------------------------------------------------------------

    async def trending_answer(self, tenant_id: str, query: TrendingQuery) -> Answer:
        count = resolve_count(query.count, await self._tenants.config(tenant_id))
        key = digest("trending", query.entity_type, count, query.window_days)

        async def compute() -> dict[str, Any]:
            items = await self._trending.trending(
                tenant_id, query.entity_type, count, query.window_days
            )
            return {
                "trending": [{**item, "reason": "trending", "because": []} for item in items],
                "count": len(items),
                "window_days": query.window_days,
                "entity_type": query.entity_type,
            }

        answer = await self._answer(tenant_id, None, key, compute)
        metrics.RECOMMENDATIONS_SERVED.labels("trending", "trending").inc()
        return answer


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


def _neighbours(row: HistoryRow) -> tuple[np.ndarray, np.ndarray] | None:
    if row.neighbours is None:
        return None
    return model_store.unpack(row.neighbours, row.scores or b"")


def _key(row: HistoryRow) -> dict[str, str]:
    return {"entity_type": row.entity_type, "entity_id": row.entity_id}


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
