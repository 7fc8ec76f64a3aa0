"""Recommendation answers: personalised lists, similar entities and trending ones.

The service does the I/O around the engine's ranking pipeline (`engine.ranking`): it
applies the tenant's defaults to a request, reads the live model once, answers from the
response cache or reads what the engine needs (the user's history, their items' lists
through the replica's `ItemListCache`, the chosen candidates' entities, fallbacks),
calls the engine, and renders the answer as JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np

from recommendation_engine import metrics
from recommendation_engine.engine import content, ensemble, hybrid, ranking
from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine.ranking import NO_LISTS, Algorithm, Blend, Scored
from recommendation_engine.errors import BadRequest, NotFound
from recommendation_engine.models import effective_weight
from recommendation_engine.serialization import dumps
from recommendation_engine.service.entities import resolve_entity_type
from recommendation_engine.service.entity_rows import EntityRowCache
from recommendation_engine.service.interaction_types import InteractionTypeService
from recommendation_engine.service.item_lists import ItemListCache
from recommendation_engine.service.live_models import LiveModels
from recommendation_engine.service.tenants import TenantConfig, TenantService
from recommendation_engine.service.trending import TrendingService
from recommendation_engine.storage import recommendation_queries as queries
from recommendation_engine.storage import vectors
from recommendation_engine.storage.cache import ResponseCache, digest
from recommendation_engine.storage.model_store import NO_MODEL, ModelInfo, ModelRef
from recommendation_engine.storage.recommendation_queries import Attributes, Candidate, HistoryRow

__all__ = ["Algorithm", "RecommendationService", "SimilarQuery", "TrendingQuery", "UserQuery"]

# Entities among this many of the user's latest interactions are never recommended back.
SEEN_LIMIT = 1000
# The latest interactions a profile for vector search is made of.
SEQUENTIAL_HISTORY = 50


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


# The field of each route's answer that holds the entities it shows.
LIST_FIELD = {"user": "recommendations", "similar": "recommendations", "trending": "trending"}


@dataclass(frozen=True, slots=True)
class Answer:
    """A rendered JSON answer and where it came from: "memory", "redis" or "computed".
    A computed answer also keeps the entities it lists, as rendered (for its impression,
    which then need not parse the body again)."""

    body: bytes
    source: str
    listed: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class Recommendation:
    entity_type: str
    entity_id: str
    score: float
    reason: str
    because: list[dict[str, str]]
    attributes: Attributes

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
    collaborative: float | None,
    content_weight: float | None,
    defaults: tuple[float, float],
    pinned: bool = True,
) -> tuple[float, float] | None:
    """Request weights over the defaults; one weight alone implies the other as 1 - it.
    None, the model's tuned blend, when the request gives none and the defaults are not
    ``pinned``."""
    if collaborative is None and content_weight is None:
        return defaults if pinned else None
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
        item_lists: ItemListCache,
        entity_rows: EntityRowCache,
    ) -> None:
        self._pool = pool
        self._types = types
        self._trending = trending
        self._live = live_models
        self._tenants = tenants
        self._cache = cache
        self._lists = item_lists
        self._entities = entity_rows
        self._configs: dict[tuple[str, int], ensemble.EnsembleConfig] = {}

    def _model_config(self, model: ModelInfo | None) -> ensemble.EnsembleConfig:
        """The settings saved with a model version (read once per version)."""
        if model is None:
            return ensemble.EnsembleConfig()
        key = (model.tenant_id, model.version)
        found = self._configs.get(key)
        if found is None:
            if len(self._configs) >= 1000:
                self._configs.clear()
            found = self._configs[key] = ensemble.config_from_dict(model.config)
        return found

    async def _live_model(self, tenant_id: str) -> ModelInfo | None:
        """The tenant's live model version, read once per request (at most once a second
        per replica; a connection is taken only when it must be read)."""
        return await self._live.current(self._pool, tenant_id)

    async def _answer(
        self,
        tenant_id: str,
        user_id: str | None,
        key: tuple[object, ...],
        compute: Callable[[], Awaitable[dict[str, Any]]],
        route: str,
    ) -> Answer:
        """The answer cached under ``key`` (the route and every parameter that shapes
        it), or ``compute()``'s, rendered; ``route`` says which list it shows
        (`LIST_FIELD`)."""
        listed: list[dict[str, Any]] | None = None

        async def render() -> bytes:
            nonlocal listed
            body = await compute()
            body["generated_at"] = datetime.now(UTC)
            listed = body[LIST_FIELD[route]]
            return dumps(body)

        cache_key = digest(*key) if self._cache.enabled else ""
        body, source = await self._cache.get_or_compute(tenant_id, user_id, cache_key, render)
        return Answer(body, source, listed)

    # Personalised recommendations ----------------------------------------------------

    async def user_answer(self, tenant_id: str, query: UserQuery) -> Answer:
        config = await self._tenants.config(tenant_id)
        count = resolve_count(query.count, config)
        weights = resolve_weights(
            query.collaborative_weight,
            query.content_weight,
            (config.collaborative_weight, config.content_based_weight),
            config.weights_pinned,
        )
        blend = Blend(query.algorithm, *(weights or (None, None)))
        model = await self._live_model(tenant_id)
        key = (
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

        answer = await self._answer(tenant_id, query.user_id, key, compute, "user")
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
        config = self._model_config(model)
        ref = model.ref if model else NO_MODEL
        async with self._pool.acquire() as conn:
            state = await queries.user_state(
                conn,
                tenant_id,
                query.user_id,
                ref,
                history=ensemble.history_length(config),
                seen=SEEN_LIMIT if query.exclude_seen else 0,
            )
            rows, seen = state.history, state.seen
            rows.reverse()  # oldest first
            items = np.array([-1 if r.item is None else r.item for r in rows], np.int64)
            lists = (
                await self._lists.lists(conn, tenant_id, model, items[items >= 0].tolist())
                if model
                else {}
            )
            history_weights = _weights(rows, types)
            history_lists = [lists.get(item, NO_LISTS) for item in items.tolist()]
            seen_items = np.fromiter(state.seen_items, np.int64, len(state.seen_items))
            weights = ranking.source_weights(blend, config.weights)
            scored = ranking.score_history(
                items, history_weights, history_lists, config, weights, seen_items
            )
            catalogue = state.catalogue
            ranked = await self._take(
                conn, tenant_id, query, count, ref, catalogue, scored, rows, seen
            )
            if len(ranked) < count and weights.content == 0 and blend.uses_content:
                # The blend could not fill the list (a type or filter it rarely reaches):
                # content neighbours reach entities nobody has interacted with yet.
                by_content = ranking.score_history(
                    items,
                    history_weights,
                    history_lists,
                    config,
                    ranking.source_weights(Blend("content_based"), config.weights),
                    seen_items,
                )
                taken = seen | {(r.entity_type, r.entity_id) for r in ranked}
                filled = await self._take(
                    conn,
                    tenant_id,
                    query,
                    count - len(ranked),
                    ref,
                    catalogue,
                    by_content,
                    rows,
                    taken,
                )
                floor = ranked[-1].score if ranked else 1.0  # scores stay in order
                for recommendation in filled:
                    recommendation.score *= floor
                ranked += filled
        cold_start = len(ranked) < count
        if cold_start and blend.uses_content and rows:
            await self._fill_from_vectors(
                tenant_id, query, count, ref, rows, history_weights, ranked, seen
            )
        if len(ranked) < count:
            await self._fill_from_trending(tenant_id, query, count, ranked, seen)
        if len(ranked) < count and model is not None:
            await self._fill_from_popular(tenant_id, query, count, ref, ranked, seen)
        return ranked[:count], cold_start

    async def _take(
        self,
        conn: asyncpg.Connection,
        tenant_id: str,
        query: UserQuery,
        count: int,
        model: ModelRef,
        catalogue: int | None,
        scored: Scored,
        rows: list[HistoryRow],
        seen: set[tuple[str, str]],
    ) -> list[Recommendation]:
        """The best ``count`` scored items that pass the request's type, filters and
        exclusions, read in growing pages while those thin them out (``catalogue``: the
        tenant's catalogue generation the request read)."""
        chosen: list[tuple[int, Candidate]] = []
        # Seen items are not scored: only exclusions, types and filters thin a page out.
        taken, page = 0, count + len(query.exclude)
        while len(chosen) < count and taken < scored.items.size:
            positions = scored.top(taken + page)[taken:]
            batch = await self._entities.candidates(
                conn,
                tenant_id,
                model,
                scored.items[positions].tolist(),
                query.entity_type,
                query.filters,
                catalogue,
            )
            by_item = {c.item: c for c in batch}
            for position in positions.tolist():
                found = by_item.get(int(scored.items[position]))
                if found is None or found.entity_id in query.exclude:
                    continue
                if (found.entity_type, found.entity_id) in seen:
                    continue
                chosen.append((position, found))
            taken += page
            page *= 4
        chosen = chosen[:count]
        because = scored.because([c.item for _, c in chosen])
        return [
            Recommendation(
                found.entity_type,
                found.entity_id,
                float(scored.scores[position]),
                scored.reason(position),
                [_key(rows[e]) for e in because.get(found.item or -1, [])],
                found.attributes,
            )
            for position, found in chosen
        ]

    async def _fill_from_vectors(
        self,
        tenant_id: str,
        query: UserQuery,
        count: int,
        model: ModelRef,
        rows: list[HistoryRow],
        history_weights: np.ndarray,
        ranked: list[Recommendation],
        seen: set[tuple[str, str]],
    ) -> None:
        """Append the entities whose feature vectors are nearest the user's profile (the
        recency-weighted mean of their history's vectors, ``history_weights`` being each
        row's interaction weight): what the model cannot offer before its first build,
        or for a history of entities newer than it."""
        recent = rows[-SEQUENTIAL_HISTORY:]
        weights = knn.profile_weights(
            np.maximum(history_weights[-SEQUENTIAL_HISTORY:], 0.0), knn.SequentialKNNConfig()
        )
        taken = seen | {(r.entity_type, r.entity_id) for r in ranked}
        async with self._pool.acquire() as conn:
            found = await queries.feature_vectors(
                conn, tenant_id, [(r.entity_type, r.entity_id) for r in recent]
            )
            usable = [
                (found[(r.entity_type, r.entity_id)], w)
                for r, w in zip(recent, weights, strict=True)
                if (r.entity_type, r.entity_id) in found and w > 0
            ]
            profile = (
                content.weighted_profile(
                    np.stack([v for v, _ in usable]), np.array([w for _, w in usable])
                )
                if usable
                else None
            )
            if profile is None:
                return
            nearest = await vectors.nearest(
                conn,
                tenant_id,
                profile,
                count - len(ranked) + len(query.exclude),
                entity_type=query.entity_type,
                exclude_ids=sorted(query.exclude | {key[1] for key in taken}),
                filters=query.filters,
                model=model,
            )
        floor = ranked[-1].score if ranked else 1.0  # scores stay in order
        for neighbour in nearest:
            if len(ranked) >= count:
                break
            if (neighbour.entity_type, neighbour.entity_id) in taken:
                continue
            ranked.append(
                Recommendation(
                    neighbour.entity_type,
                    neighbour.entity_id,
                    floor * max(neighbour.similarity, 0.0),
                    "content",
                    [],
                    neighbour.attributes,
                )
            )

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
        key = (
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

        answer = await self._answer(tenant_id, None, key, compute, "similar")
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
        """Entities like one entity: by collaboration (its sequential neighbour list), by
        content (its content neighbours, at least ``threshold`` cosine-similar), or both
        blended. An entity new to the model (or without content neighbours) finds its
        content neighbours by vector search. Returns the entity's type (resolved when the
        query left it out), the list, and whether the entity is new to the model."""
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
            has_vector, item, catalogue = found
            lists = NO_LISTS
            if item is not None and model is not None:
                lists = (await self._lists.lists(conn, tenant_id, model, [item]))[item]
            source_key = (entity_type, query.entity_id)
            sequential = lists.sequential if blend.uses_collaborative else None
            similar = None
            # Entities read so far, by model item (None: gone, of another type, or not
            # matching the filters); entities found outside the model get negative numbers.
            read: dict[int, Candidate | None] = {}
            searched: dict[int, float] = {}
            cosine: dict[int, float] = {}
            if blend.uses_content:
                # Content neighbours come with their cosine similarity stored beside them.
                # The entity's vector is read only without that: the database computes
                # the similarities for a model built before they were stored, and
                # searches the vectors for an entity without content neighbours.
                if lists.content is not None and lists.content_similarity is not None:
                    similar = (lists.content[0], lists.content_similarity)
                elif has_vector:
                    vector = (await queries.feature_vectors(conn, tenant_id, [source_key])).get(
                        source_key
                    )  # None if it changed meanwhile
                    if vector is not None and np.any(vector):
                        similar, searched, cosine = await self._similar_by_vector(
                            conn, tenant_id, query, ref, count, threshold, lists, vector, read
                        )
            chosen: list[tuple[int, Candidate]] = []
            depth = hybrid.per_source(count)
            parts = [part for part in (sequential, similar) if part is not None]
            longest = max((len(part[0]) for part in parts), default=0)
            while True:
                offered = ranking.offer_similar(
                    item, sequential, similar, threshold, depth, blend, searched, cosine
                )
                chosen = await self._read_in_order(
                    conn, tenant_id, query, count, ref, catalogue, offered, read, source_key
                )
                if len(chosen) >= count or depth >= longest:
                    break
                depth *= 4  # filters thinned the offers out: the lists offer more
        source = {"entity_type": entity_type, "entity_id": query.entity_id}
        recommendations = [
            Recommendation(
                candidate.entity_type,
                candidate.entity_id,
                float(offered.blended.scores[position]),
                offered.blended.reason(position),
                [source],
                candidate.attributes,
            )
            for position, candidate in chosen[:count]
        ]
        return entity_type, recommendations, item is None

    async def _similar_by_vector(
        self,
        conn: asyncpg.Connection,
        tenant_id: str,
        query: SimilarQuery,
        model: ModelRef,
        count: int,
        threshold: float,
        lists: ranking.ItemLists,
        vector: np.ndarray,
        read: dict[int, Candidate | None],
    ) -> tuple[tuple[np.ndarray, np.ndarray] | None, dict[int, float], dict[int, float]]:
        """Content candidates from the entity's ``vector``, for `ranking.offer_similar`:
        its content neighbours' similarities computed by the database (a model built
        before they were stored), or, without content neighbours, the nearest entities
        by vector search and the similarity of its collaborative neighbours. Every entity
        read is kept in ``read``."""
        if lists.content is not None:
            near = lists.content[0]
            await _read_entities(conn, tenant_id, query, model, near.tolist(), vector, read)
            cosine = np.array([_similarity(read[n]) for n in near.tolist()], np.float64)
            return (near, cosine), {}, {}
        searched = await vectors.nearest(
            conn,
            tenant_id,
            vector,
            hybrid.per_source(count),
            entity_type=query.result_type,
            exclude_ids=sorted(query.exclude | {query.entity_id}),
            min_similarity=threshold,
            filters=query.filters,
            model=model,
        )
        found_by_search: dict[int, float] = {}
        similarity: dict[int, float] = {}
        if lists.sequential is not None:
            neighbours = lists.sequential[0].tolist()
            await _read_entities(conn, tenant_id, query, model, neighbours, vector, read)
            similarity = {n: _similarity(read[n]) for n in neighbours}
        for n, neighbour in enumerate(searched):
            number = neighbour.item if neighbour.item is not None else -1 - n
            read[number] = Candidate(
                number,
                neighbour.entity_type,
                neighbour.entity_id,
                neighbour.similarity,
                neighbour.attributes,
            )
            found_by_search[number] = neighbour.similarity
        return None, found_by_search, similarity

    async def _read_in_order(
        self,
        conn: asyncpg.Connection,
        tenant_id: str,
        query: SimilarQuery,
        count: int,
        model: ModelRef,
        catalogue: int,
        offered: ranking.Offered,
        read: dict[int, Candidate | None],
        source_key: tuple[str, str],
    ) -> list[tuple[int, Candidate]]:
        """The best ``count`` offered candidates (positions in ``offered``) whose entities
        exist, have the requested type and attribute values and are not excluded: read
        best first in growing pages, each page running on to the end of a tie, equal
        scores ordered by entity. ``read`` keeps what was read, for the next depth."""
        scores = offered.blended.scores
        order = offered.order.tolist()
        items = offered.items.tolist()
        chosen: list[tuple[int, Candidate]] = []
        start, page = 0, count + len(query.exclude)
        while start < len(order) and len(chosen) < count:
            end = min(start + page, len(order))
            while end < len(order) and scores[order[end]] == scores[order[end - 1]]:
                end += 1
            missing = [items[p] for p in order[start:end] if items[p] not in read]
            if missing:
                found = await self._entities.candidates(
                    conn,
                    tenant_id,
                    model,
                    missing,
                    query.result_type,
                    query.filters,
                    catalogue,
                )
                _keep(read, missing, found)
            wanted = []
            for position in order[start:end]:
                candidate = read[items[position]]
                if (
                    candidate is not None
                    and candidate.entity_id not in query.exclude
                    and (candidate.entity_type, candidate.entity_id) != source_key
                ):
                    wanted.append((position, candidate))
            wanted.sort(key=lambda p: (-scores[p[0]], p[1].entity_type, p[1].entity_id))
            chosen += wanted
            start, page = end, page * 4
        return chosen[:count]

    # Trending ---------------------------------------------------------------------------

    async def trending_answer(self, tenant_id: str, query: TrendingQuery) -> Answer:
        count = resolve_count(query.count, await self._tenants.config(tenant_id))
        key = ("trending", query.entity_type, count, query.window_days)

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

        answer = await self._answer(tenant_id, None, key, compute, "trending")
        metrics.RECOMMENDATIONS_SERVED.labels("trending", "trending").inc()
        return answer


async def _read_entities(
    conn: asyncpg.Connection,
    tenant_id: str,
    query: SimilarQuery,
    model: ModelRef,
    items: list[int],
    profile: np.ndarray,
    read: dict[int, Candidate | None],
) -> None:
    """Read the entities of model ``items`` into ``read``: each the candidate, with its
    similarity to ``profile``, or None when it is gone or fails the query's type or
    filters."""
    if not items:
        return
    found = await queries.candidates(
        conn, tenant_id, model, items, profile, query.result_type, query.filters
    )
    _keep(read, items, found)


def _keep(read: dict[int, Candidate | None], items: list[int], found: list[Candidate]) -> None:
    """Note in ``read`` what was read of model ``items``: each one's candidate among
    ``found``, or None (gone, or not of the query's type or filters)."""
    by_item = {c.item: c for c in found}
    for item in items:
        read[item] = by_item.get(item)


def _similarity(candidate: Candidate | None) -> float:
    """A candidate's cosine similarity as the database computed it (0 when unknown)."""
    return 0.0 if candidate is None or candidate.similarity is None else candidate.similarity


def _weights(rows: list[HistoryRow], types: dict) -> np.ndarray:
    """Each row's effective weight (0 for a weight out of range: it counts for nothing),
    worked out once per distinct (type, weight, value)."""
    known: dict[tuple[str, float | None, float | None], float] = {}
    out = np.empty(len(rows), np.float64)
    for n, row in enumerate(rows):
        key = (row.interaction_type, row.weight, row.value)
        weight = known.get(key)
        if weight is None:
            kind = types.get(row.interaction_type)
            found = effective_weight(row.weight, row.value, kind.default_weight if kind else None)
            weight = known[key] = 0.0 if found is None else found
        out[n] = weight
    return out


def _key(row: HistoryRow) -> dict[str, str]:
    return {"entity_type": row.entity_type, "entity_id": row.entity_id}
