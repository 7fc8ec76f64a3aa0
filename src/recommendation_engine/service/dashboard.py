"""What the dashboard's pages show: the queries behind each page, over the services the
API uses (recommendations come from the same calls the API routes make)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import orjson

from recommendation_engine.config import Settings
from recommendation_engine.errors import AppError, NotFound, ValidationFailed
from recommendation_engine.models import InteractionInput
from recommendation_engine.service.container import Services
from recommendation_engine.service.dashboard_sessions import DashboardSessions
from recommendation_engine.service.live_models import LiveModels
from recommendation_engine.service.recommendations import (
    RecommendationService,
    SimilarQuery,
    TrendingQuery,
    UserQuery,
)
from recommendation_engine.service.service_metrics import ServiceMetrics
from recommendation_engine.service.tenant_evaluation import TenantEvaluations
from recommendation_engine.service.ttl_cache import TTLCache
from recommendation_engine.storage import dashboard as repo
from recommendation_engine.storage import trending as trending_repo
from recommendation_engine.storage.cache import ResponseCache

ALGORITHMS = ("hybrid", "collaborative", "content_based")
SHOWN = 10  # recommendations per list
HISTORY_SHOWN = 100  # interactions on a user's timeline
ENTITY_INTERACTIONS_SHOWN = 20
SEARCH_LIMIT = 50
COUNTS_SECONDS = 30.0
MODEL_VERSIONS_SHOWN = 200
# Keys of a model version's `config` under which validation metrics may be published.
VALIDATION_KEYS = ("validation", "validation_metrics", "metrics")


@dataclass(slots=True)
class ListResult:
    """One recommendation list, or the error that stopped it."""

    algorithm: str
    body: dict[str, Any] | None = None
    error: str | None = None


async def _list(algorithm: str, call: Callable[[], Awaitable[Any]]) -> ListResult:
    try:
        answer = await call()
    except AppError as error:
        return ListResult(algorithm, error=error.message)
    return ListResult(algorithm, orjson.loads(answer.body))


class _HeldConnection:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def __aenter__(self) -> asyncpg.Connection:
        return self._conn

    async def __aexit__(self, *exc: object) -> None:
        return None


class _OneConnection:
    """A stand-in for the pool that hands out one connection, in its open transaction:
    a what-if preview computes recommendations over an interaction it never commits."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    def acquire(self) -> _HeldConnection:
        return _HeldConnection(self._conn)


def compare_lists(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, Any]:
    """How a list changed: each item of ``after`` with its former position (None: new)
    and the items of ``before`` that left it."""
    position = {(r["entity_type"], r["entity_id"]): i for i, r in enumerate(before)}
    now = {(r["entity_type"], r["entity_id"]) for r in after}
    rows = []
    for index, item in enumerate(after):
        was = position.get((item["entity_type"], item["entity_id"]))
        rows.append({**item, "position": index + 1, "was": None if was is None else was + 1})
    left = [r for r in before if (r["entity_type"], r["entity_id"]) not in now]
    return {"items": rows, "left": left}


def validation_metrics(config: dict[str, Any]) -> dict[str, float]:
    """Numeric validation metrics a model version's configuration publishes, if any."""
    for key in VALIDATION_KEYS:
        found = config.get(key)
        if isinstance(found, dict):
            return {
                name: float(value)
                for name, value in found.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            }
    return {}


class DashboardService:
    def __init__(self, services: Services, settings: Settings) -> None:
        self.services = services
        self.settings = settings
        self._pool = services.pool
        auth = settings.auth
        self.sessions = DashboardSessions(
            services.pool,
            services.tenants,
            auth.api_key.get_secret_value() if auth.api_key else None,
            auth.require_api_key,
            timedelta(hours=settings.dashboard.session_hours),
        )
        self._counts: TTLCache[str, dict[str, int]] = TTLCache(COUNTS_SECONDS)
        self.metrics = ServiceMetrics(settings.dashboard.metrics_sample_secs)
        self.evaluations = TenantEvaluations(services.pool, services.trainer, services.tenants)

    def start(self) -> None:
        self.metrics.start()

    async def stop(self) -> None:
        await self.metrics.stop()
        await self.evaluations.stop()

    # -- tenants ------------------------------------------------------------------------

    async def known_tenants(self) -> list[str]:
        """Registered tenants, tenants holding data, and the default one."""
        default = self.settings.tenancy.default_tenant_id
        if not self.settings.tenancy.enable_multi_tenancy:
            return [default]
        async with self._pool.acquire() as conn:
            with_data = await repo.tenants_with_data(conn)
        registered = [t["tenant_id"] for t in await self.services.tenants.list_all()]
        return sorted({default, *with_data, *registered})

    # -- overview -----------------------------------------------------------------------

    async def overview(self, tenant_id: str) -> dict[str, Any]:
        now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        since = now - timedelta(hours=24)

        async def entities() -> int:
            async with self._pool.acquire() as conn:
                return await repo.entity_count(conn, tenant_id)

        async def per_minute() -> list[tuple[datetime, int]]:
            async with self._pool.acquire() as conn:
                return await repo.interactions_per_minute(conn, tenant_id, since, now)

        async def backlog() -> dict[str, int]:
            async with self._pool.acquire() as conn:
                return await repo.webhook_backlog(conn, tenant_id)

        entity_count, minutes, webhooks, status, history = await asyncio.gather(
            entities(),
            per_minute(),
            backlog(),
            self.services.model_status(tenant_id),
            self.model_history(tenant_id, limit=1),
        )
        counts = dict(minutes)
        series = [counts.get(since + timedelta(minutes=m), 0) for m in range(24 * 60)]
        return {
            "entities": entity_count,
            "per_minute": {"start": since, "counts": series},
            "service": self.metrics.summary(),
            "model": status,
            "last_version": history[-1] if history else None,
            "webhooks": webhooks,
        }

    async def user_and_interaction_counts(self, tenant_id: str) -> dict[str, int]:
        """Distinct users and interactions, from the counts the trending fold keeps (a
        pass over every interaction only until the first fold has counted them), loaded
        after the overview; a replica reuses them for `COUNTS_SECONDS`."""

        async def count() -> dict[str, int]:
            async with self._pool.acquire() as conn:
                users, interactions = await trending_repo.counts(conn, tenant_id)
            return {"users": users, "interactions": interactions}

        return await self._counts.get_or_load(tenant_id, count)

    # -- entities -----------------------------------------------------------------------

    async def entity_types(self, tenant_id: str) -> list[str]:
        async with self._pool.acquire() as conn:
            return await repo.entity_types(conn, tenant_id)

    async def search_entities(
        self,
        tenant_id: str,
        id_prefix: str | None,
        entity_type: str | None,
        attribute: str | None,
        value: str | None,
    ) -> list[repo.EntityRow]:
        async with self._pool.acquire() as conn:
            return await repo.search_entities(
                conn, tenant_id, id_prefix, entity_type, attribute, value, SEARCH_LIMIT
            )

    async def entity(self, tenant_id: str, entity_type: str, entity_id: str) -> dict[str, Any]:
        services = self.services
        entity = await services.entities.get(tenant_id, entity_id, entity_type)

        async def interaction_count() -> int:
            async with self._pool.acquire() as conn:
                return await repo.entity_interaction_count(conn, tenant_id, entity_type, entity_id)

        recent, total, *lists = await asyncio.gather(
            services.interactions.for_entity(
                tenant_id, entity_id, entity_type, ENTITY_INTERACTIONS_SHOWN, 0
            ),
            interaction_count(),
            *(
                _list(
                    algorithm,
                    lambda a=algorithm: services.recommendations.similar_answer(
                        tenant_id,
                        SimilarQuery(entity_id, entity_type, count=SHOWN, algorithm=a),
                    ),
                )
                for algorithm in ALGORITHMS
            ),
        )
        return {"entity": entity, "interactions": recent, "total": total, "similar": lists}

    # -- users --------------------------------------------------------------------------

    async def find_users(self, tenant_id: str, prefix: str | None) -> list[str]:
        async with self._pool.acquire() as conn:
            if prefix:
                return await repo.users_by_prefix(conn, tenant_id, prefix, SEARCH_LIMIT)
            return await repo.recent_users(conn, tenant_id, 20)

    async def user(self, tenant_id: str, user_id: str) -> dict[str, Any]:
        services = self.services

        async def interaction_count() -> int:
            async with self._pool.acquire() as conn:
                return await repo.user_interaction_count(conn, tenant_id, user_id)

        history, total, types, entity_types, *lists = await asyncio.gather(
            services.interactions.for_user(tenant_id, user_id, HISTORY_SHOWN, 0),
            interaction_count(),
            services.interaction_types.all(tenant_id),
            self.entity_types(tenant_id),
            *(self.recommend(tenant_id, user_id, algorithm) for algorithm in ALGORITHMS),
        )
        return {
            "history": history,
            "total": total,
            "types": sorted(types),
            "entity_types": entity_types,
            "recommendations": lists,
        }

    async def recommend(self, tenant_id: str, user_id: str, algorithm: str) -> ListResult:
        return await _list(
            algorithm,
            lambda: self.services.recommendations.user_answer(
                tenant_id,
                UserQuery(user_id, count=SHOWN, algorithm=algorithm),  # type: ignore[arg-type]
            ),
        )

    async def what_if(
        self,
        tenant_id: str,
        user_id: str,
        entity_type: str,
        entity_id: str,
        interaction_type: str,
        value: float | None,
        algorithm: str,
        record: bool,
    ) -> dict[str, Any]:
        """The user's list before and after one more interaction: recorded for real
        (``record``), or previewed in a transaction that is rolled back."""
        data = InteractionInput(
            user_id=user_id,
            entity_id=entity_id,
            entity_type=entity_type,
            interaction_type=interaction_type,
            value=value,
        )
        types = await self.services.interaction_types.all(tenant_id)
        if interaction_type not in types:
            raise ValidationFailed(f"unknown interaction type '{interaction_type}'")
        before = await self.recommend(tenant_id, user_id, algorithm)
        if record:
            await self.services.interactions.record(tenant_id, data)
            after = await self.recommend(tenant_id, user_id, algorithm)
        else:
            after = await self._preview(tenant_id, data, algorithm)
        return {
            "before": before,
            "after": after,
            "changes": compare_lists(
                (before.body or {}).get("recommendations", []),
                (after.body or {}).get("recommendations", []),
            ),
        }

    async def _preview(self, tenant_id: str, data: InteractionInput, algorithm: str) -> ListResult:
        services = self.services
        async with self._pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                assert data.entity_type is not None
                stored = await repo.insert_interaction(
                    conn,
                    tenant_id,
                    data.user_id,
                    data.entity_type,
                    data.entity_id,
                    data.interaction_type,
                    data.value,
                )
                if not stored:
                    raise NotFound(
                        f"entity '{data.entity_id}' of type '{data.entity_type}' does not exist"
                    )
                preview = RecommendationService(
                    cast(asyncpg.Pool, _OneConnection(conn)),
                    services.interaction_types,
                    services.trending,
                    LiveModels(),
                    services.tenants,
                    ResponseCache(0, None),  # nothing cached: the answer is hypothetical
                    services.item_lists,  # the model's lists, which the preview leaves as they are
                    services.entity_rows,  # the preview changes no entity
                )
                return await _list(
                    algorithm,
                    lambda: preview.user_answer(
                        tenant_id,
                        UserQuery(data.user_id, count=SHOWN, algorithm=algorithm),  # type: ignore[arg-type]
                    ),
                )
            finally:
                await transaction.rollback()

    # -- trending -----------------------------------------------------------------------

    async def trending(
        self, tenant_id: str, entity_type: str | None, window_days: int, count: int
    ) -> dict[str, Any]:
        answer = await self.services.recommendations.trending_answer(
            tenant_id, TrendingQuery(entity_type, count, window_days)
        )
        return orjson.loads(answer.body)

    # -- model --------------------------------------------------------------------------

    async def model_history(
        self, tenant_id: str, limit: int = MODEL_VERSIONS_SHOWN
    ) -> list[dict[str, Any]]:
        async with self._pool.acquire() as conn:
            rows = await repo.model_history(conn, tenant_id, limit)
        for row in rows:
            row["build_seconds"] = (row["published_at"] - row["started_at"]).total_seconds()
            row["incremental"] = row["version"] != row["base_version"]
            row["validation"] = validation_metrics(row["config"])
        return rows

    async def rebuild(self, tenant_id: str) -> int:
        """Start a full rebuild; the base version it will replace (0: none)."""
        status = await self.services.model_status(tenant_id)
        self.services.start_rebuild(tenant_id)
        return int(status["base_version"] or 0)

    async def rebuild_progress(self, tenant_id: str, since_base: int) -> dict[str, Any]:
        """Where a rebuild started over base version ``since_base`` stands: "preparing"
        (trending data first), "training" (a version is being built), or "done" (a new
        full build is live); with the time it has taken and the last full build's."""
        status = await self.services.model_status(tenant_id)
        async with self._pool.acquire() as conn:
            started = await repo.building_since(conn, tenant_id)
        history = await self.model_history(tenant_id, limit=50)
        full = [row for row in history if not row["incremental"]]
        expected = full[-1]["build_seconds"] if full else None
        if status["base_version"] is not None and status["base_version"] > since_base:
            state, elapsed = "done", None
        elif started is not None:
            state = "training"
            elapsed = (datetime.now(UTC) - started).total_seconds()
        else:
            state, elapsed = "preparing", None
        percent = None
        if state == "training" and expected:
            percent = min(95, int(100 * (elapsed or 0) / max(expected, 0.001)))
        return {
            "state": state,
            "elapsed": elapsed,
            "expected": expected,
            "percent": 100 if state == "done" else percent,
            "status": status,
        }

    # -- webhooks -----------------------------------------------------------------------

    async def webhooks(self, tenant_id: str) -> list[dict[str, Any]]:
        return await self.services.webhooks.list_all(tenant_id)
