"""Personalised recommendations for a user: collaborative, content-based or hybrid,
filled from popular entities when the user's own signals run out (cold start)."""

from __future__ import annotations

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
from recommendation_engine.storage import entities as entities_repo
from recommendation_engine.storage import model_store, vectors
from recommendation_engine.storage import recommendation_queries as queries
from recommendation_engine.storage.recommendation_queries import HistoryRow

Algorithm = Literal["hybrid", "collaborative", "content_based"]

COLLABORATIVE_CANDIDATES = 200
CONTENT_CANDIDATES = 100
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

    async def for_user(self, request: UserRequest) -> UserRecommendations:
        types = await self._types.all(request.tenant_id)
        async with self._pool.acquire() as conn:
            model = await self._live.get(conn, request.tenant_id)
            version = model.version if model else -1
            state = await queries.user_state(
                conn,
                request.tenant_id,
                request.user_id,
                version,
                history=self.config.history,
                seen=SEEN_LIMIT if request.exclude_seen else 0,
            )
            rows, seen, seen_items = state.history, state.seen, state.seen_items
            rows.reverse()  # oldest first
            weights = np.array([_weight(r, types) for r in rows], dtype=np.float64)
            profile_weights = knn.profile_weights(weights, self.config) if rows else weights
            ranked = await self._rank(
                conn, request, version, rows, profile_weights, seen, seen_items
            )
        cold_start = len(ranked) < request.count
        if cold_start:
            await self._fill_from_trending(request, ranked, seen)
        if len(ranked) < request.count and model is not None:
            async with self._pool.acquire() as conn:
                taken = seen | {(r.entity_type, r.entity_id) for r in ranked}
                popular = await queries.popular(
                    conn,
                    request.tenant_id,
                    version,
                    request.count - len(ranked),
                    request.entity_type,
                    request.filters,
                    taken,
                    request.exclude,
                )
                attributes = await entities_repo.attributes_by_key(
                    conn, request.tenant_id, [(c.entity_type, c.entity_id) for c, _ in popular]
                )
                for candidate, popularity in popular:
                    key = (candidate.entity_type, candidate.entity_id)
                    if key in attributes:
                        ranked.append(
                            Recommendation(*key, popularity, "popular", [], attributes[key])
                        )
        return UserRecommendations(
            ranked[: request.count], cold_start, model.version if model else None
        )

    async def similar_to(self, request: EntityRequest) -> tuple[str, list[Recommendation]]:
        """Entities like one entity: by content (its feature-vector neighbours, at least
        SIMILARITY_THRESHOLD similar), by collaboration (users who interacted with it
        also interacted with), or both blended. Returns the entity's type and the list."""
        async with self._pool.acquire() as conn:
            entity_type = await resolve_entity_type(
                conn, request.tenant_id, request.entity_id, request.entity_type
            )
            model = await self._live.get(conn, request.tenant_id)
            version = model.version if model else -1
            found = await queries.entity_model_row(
                conn, request.tenant_id, version, entity_type, request.entity_id
            )
            if found is None:
                raise NotFound(
                    f"entity '{request.entity_id}' of type '{entity_type}' does not exist",
                    {"entity_id": request.entity_id, "entity_type": entity_type},
                )
            vector, neighbours, scores = found
            collaborative: dict[int, float] = {}
            if request.algorithm != "content_based" and neighbours is not None:
                items, values = model_store.unpack(neighbours, scores or b"")
                collaborative = dict(
                    zip(items.tolist(), values.astype(float).tolist(), strict=True)
                )
            content_keys: list[tuple[str, str]] = []
            similarity: dict[tuple[str, str], float] = {}
            if request.algorithm != "collaborative" and vector is not None and np.any(vector):
                near = await vectors.nearest(
                    conn,
                    request.tenant_id,
                    vector,
                    CONTENT_CANDIDATES + request.count,
                    entity_type=request.result_type,
                    exclude_ids=sorted(request.exclude | {request.entity_id}),
                    min_similarity=request.similarity_threshold,
                )
                content_keys = [(n.entity_type, n.entity_id) for n in near]
                similarity = {(n.entity_type, n.entity_id): n.similarity for n in near}
            candidates = await queries.candidates(
                conn,
                request.tenant_id,
                version,
                list(collaborative),
                content_keys,
                None,
                request.result_type,
                request.filters,
            )
        candidates = [
            c
            for c in candidates
            if c.entity_id not in request.exclude
            and (c.entity_type, c.entity_id) != (entity_type, request.entity_id)
        ]
        collaborative_scores = np.array(
            [collaborative.get(c.item, 0.0) if c.item is not None else 0.0 for c in candidates]
        )
        content_scores = np.array(
            [similarity.get((c.entity_type, c.entity_id), 0.0) for c in candidates]
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
        async with self._pool.acquire() as conn:
            attributes = await entities_repo.attributes_by_key(
                conn,
                request.tenant_id,
                [(candidates[i].entity_type, candidates[i].entity_id) for i in order],
            )
        return entity_type, [
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
                attributes.get((candidates[i].entity_type, candidates[i].entity_id), {}),
            )
            for i in order
        ]

    async def _fill_from_trending(
        self, request: UserRequest, ranked: list[Recommendation], seen: set[tuple[str, str]]
    ) -> None:
        """Append trending entities (the requested type, filters honoured) up to count."""
        taken = seen | {(r.entity_type, r.entity_id) for r in ranked}
        wanted = request.count - len(ranked)
        items = await self._trending.trending(
            request.tenant_id, request.entity_type, wanted + 50, exclude=taken
        )
        for item in items:
            if len(ranked) >= request.count:
                break
            if item["entity_id"] in request.exclude or not _matches(
                item["attributes"], request.filters
            ):
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
        version: int,
        rows: list[HistoryRow],
        profile_weights: np.ndarray,
        seen: set[tuple[str, str]],
        seen_items: set[int],
    ) -> list[Recommendation]:
        use_collaborative = request.algorithm != "content_based"
        use_content = request.algorithm != "collaborative"
        sources = _neighbour_lists(rows, profile_weights) if use_collaborative else []
        collaborative = _collaborative_scores(sources)
        for item in seen_items:
            collaborative.pop(item, None)
        top_items = sorted(collaborative, key=collaborative.__getitem__, reverse=True)[
            :COLLABORATIVE_CANDIDATES
        ]
        profile = _profile(rows, profile_weights) if use_content else None
        content_keys: list[tuple[str, str]] = []
        if profile is not None:
            near = await vectors.nearest(
                conn,
                request.tenant_id,
                profile,
                CONTENT_CANDIDATES,
                entity_type=request.entity_type,
                exclude_ids=sorted(request.exclude | {key[1] for key in seen}),
            )
            content_keys = [(n.entity_type, n.entity_id) for n in near]
        if not top_items and not content_keys:
            return []
        found = await queries.candidates(
            conn,
            request.tenant_id,
            version,
            top_items,
            content_keys,
            profile,
            request.entity_type,
            request.filters,
        )
        found = [
            c
            for c in found
            if (c.entity_type, c.entity_id) not in seen and c.entity_id not in request.exclude
        ]
        collaborative_scores = np.array(
            [collaborative.get(c.item, 0.0) if c.item is not None else 0.0 for c in found]
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
        chosen = [found[i] for i in order]
        attributes = await entities_repo.attributes_by_key(
            conn, request.tenant_id, [(c.entity_type, c.entity_id) for c in chosen]
        )
        because = _because([c.item for c in chosen], sources)
        return [
            Recommendation(
                found[i].entity_type,
                found[i].entity_id,
                float(scores[i]),
                _reason(request, collaborative_part[i], content_part[i]),
                because.get(found[i].item, []) if found[i].item is not None else [],
                attributes.get((found[i].entity_type, found[i].entity_id), {}),
            )
            for i in order
        ]


def _matches(attributes: dict[str, Any], filters: dict[str, str]) -> bool:
    """The attribute filters of the SQL candidate query, for lists filtered in Python."""
    for name, wanted in filters.items():
        value = attributes.get(name)
        if isinstance(value, list):
            if wanted not in [str(v) for v in value]:
                return False
        elif value is None or _text(value) != wanted:
            return False
    return True


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _weight(row: HistoryRow, types: dict) -> float:
    kind = types.get(row.interaction_type)
    return effective_weight(row.weight, row.value, kind.default_weight if kind else None)


@dataclass(frozen=True, slots=True)
class _Source:
    """One history entry's neighbour list, scores already scaled by its profile weight."""

    key: tuple[str, str]
    items: np.ndarray
    scores: np.ndarray


def _neighbour_lists(rows: list[HistoryRow], weights: np.ndarray) -> list[_Source]:
    sources = []
    for row, weight in zip(rows, weights, strict=True):
        if row.neighbours is None or weight <= 0:
            continue
        items, scores = model_store.unpack(row.neighbours, row.scores or b"")
        sources.append(
            _Source((row.entity_type, row.entity_id), items, scores.astype(np.float64) * weight)
        )
    return sources


def _collaborative_scores(sources: list[_Source]) -> dict[int, float]:
    if not sources:
        return {}
    items = np.concatenate([s.items for s in sources])
    totals = np.bincount(items, weights=np.concatenate([s.scores for s in sources]))
    nonzero = np.flatnonzero(totals)
    return dict(zip(nonzero.tolist(), totals[nonzero].tolist(), strict=True))


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


def _because(items: list[int | None], sources: list[_Source]) -> dict[int, list[dict[str, str]]]:
    """For each item, up to three of the user's own entities that contributed most."""
    wanted = np.array([i for i in items if i is not None], dtype=np.int64)
    contributions: dict[int, dict[tuple[str, str], float]] = {}
    if wanted.size == 0:
        return {}
    for source in sources:
        hits = np.flatnonzero(np.isin(source.items, wanted))
        for position in hits:
            per_item = contributions.setdefault(int(source.items[position]), {})
            per_item[source.key] = per_item.get(source.key, 0.0) + float(source.scores[position])
    return {
        item: [
            {"entity_type": t, "entity_id": i}
            for t, i in sorted(found, key=found.__getitem__, reverse=True)[:3]
        ]
        for item, found in contributions.items()
    }
