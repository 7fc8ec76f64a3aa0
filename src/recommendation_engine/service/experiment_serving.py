"""Recommendation answers as served: each with its own `recommendation_id`, under the
running experiment's variant when there is one, and recorded as an impression.

A variant's overrides change the query before the answer is looked up, so its answers
are cached apart from the control's. The id (and the experiment) are put in front of
the rendered body, cached or not, without parsing it: the cached fast path stays a
dictionary look-up and a byte copy.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import orjson

from recommendation_engine import metrics
from recommendation_engine.engine.assignment import assign
from recommendation_engine.service.experiments import CONTROL, ExperimentService, Running
from recommendation_engine.service.impressions import Impression, ImpressionLog, now
from recommendation_engine.service.recommendations import (
    Answer,
    RecommendationService,
    SimilarQuery,
    TrendingQuery,
    UserQuery,
)


def _arm(running: Running, user_id: str) -> tuple[str, dict[str, Any]]:
    """The user's variant in the experiment and what it overrides."""
    index = assign(running.salt, user_id, running.shares)
    if index is None:
        return CONTROL, {}
    return running.names[index], running.overrides[index]


def _overridden(query: Any, overrides: dict[str, Any]) -> Any:
    changes: dict[str, Any] = {}
    for name in ("algorithm", "count", "exclude_seen"):
        if name in overrides and hasattr(query, name):
            changes[name] = overrides[name]
    if "collaborative_weight" in overrides or "content_based_weight" in overrides:
        changes["collaborative_weight"] = overrides.get("collaborative_weight")
        changes["content_weight"] = overrides.get("content_based_weight")
    return dataclasses.replace(query, **changes) if changes else query


def _stamped(body: bytes, recommendation_id: uuid.UUID, experiment: bytes | None) -> bytes:
    head = b'{"recommendation_id":"' + str(recommendation_id).encode() + b'"'
    if experiment is not None:
        head += b',"experiment":' + experiment
    return head + b"," + body[1:] if len(body) > 2 else head + b"}"


class ServedRecommendations:
    def __init__(
        self,
        recommendations: RecommendationService,
        experiments: ExperimentService,
        impressions: ImpressionLog,
    ) -> None:
        self._recommendations = recommendations
        self._experiments = experiments
        self._impressions = impressions

    async def user_answer(self, tenant_id: str, query: UserQuery) -> Answer:
        running = await self._experiments.running(tenant_id, "user")
        variant = None
        if running is not None:
            variant, overrides = _arm(running, query.user_id)
            query = _overridden(query, overrides)
        answer = await self._recommendations.user_answer(tenant_id, query)
        return self._served(
            tenant_id, answer, "user", query.algorithm, query.user_id, running, variant
        )

    async def similar_answer(self, tenant_id: str, query: SimilarQuery) -> Answer:
        running = None
        variant = None
        if query.user_id is not None:
            running = await self._experiments.running(tenant_id, "similar")
            if running is not None:
                variant, overrides = _arm(running, query.user_id)
                query = _overridden(query, overrides)
        answer = await self._recommendations.similar_answer(tenant_id, query)
        return self._served(
            tenant_id, answer, "similar", query.algorithm, query.user_id, running, variant
        )

    async def trending_answer(self, tenant_id: str, query: TrendingQuery) -> Answer:
        answer = await self._recommendations.trending_answer(tenant_id, query)
        return self._served(tenant_id, answer, "trending", "trending", None, None, None)

    def _served(
        self,
        tenant_id: str,
        answer: Answer,
        route: str,
        algorithm: str,
        user_id: str | None,
        running: Running | None,
        variant: str | None,
    ) -> Answer:
        recommendation_id = uuid.uuid4()
        experiment = None
        if running is not None and variant is not None:
            experiment = orjson.dumps({"id": str(running.id), "variant": variant})
            metrics.EXPERIMENT_IMPRESSIONS.labels(tenant_id, str(running.id), variant).inc()
        metrics.IMPRESSIONS_RECORDED.labels(route, algorithm).inc()
        self._impressions.record(
            Impression(
                tenant_id,
                recommendation_id,
                user_id,
                running.id if running is not None else None,
                variant,
                route,
                algorithm,
                answer.body,
                now(),
                answer.listed,
            )
        )
        return Answer(_stamped(answer.body, recommendation_id, experiment), answer.source)
