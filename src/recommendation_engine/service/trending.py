"""Trending entities: time-decayed interaction weight over a window of days.

The lists for the windows of 1, 7 (the default), 30 and 90 days, per entity type and
across all types, are precomputed every TRENDING_UPDATE_INTERVAL_HOURS; other windows
(up to 90 days) are computed on demand from the daily aggregate, never from raw
interactions. One process at a time
refreshes a tenant: the refresh holds the tenant's lease (storage.lease), and a process
that finds it taken skips the refresh.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from recommendation_engine.service.interaction_types import InteractionTypeService
from recommendation_engine.storage import entities as entities_repo
from recommendation_engine.storage import trending as repo
from recommendation_engine.storage.cache import ResponseCache
from recommendation_engine.storage.lease import lease

DEFAULT_WINDOW = 7
STORED_WINDOWS = (1, DEFAULT_WINDOW, 30, 90)
STORED_SIZE = 200
# Interactions younger than this are folded at the next refresh (see storage.trending.fold).
SETTLE_SECONDS = 10.0


class TrendingService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        types: InteractionTypeService,
        interval: timedelta,
        cache: ResponseCache,
    ) -> None:
        self._pool = pool
        self._types = types
        self._interval = interval
        self._cache = cache

    async def refresh(self, tenant_id: str, now: bool = False) -> bool:
        """Fold new interactions into the aggregate; recompute stored lists when due
        (cached answers of the tenant are then dropped: they may show the old lists).

        ``now`` folds everything committed so far and recomputes the lists at once (an
        explicit rebuild). Returns False when another process is refreshing the tenant.
        """
        types = await self._types.all(tenant_id)
        async with lease(self._pool, f"trending:{tenant_id}") as conn:
            if conn is None:
                return False
            async with conn.transaction():
                await repo.fold(
                    conn,
                    tenant_id,
                    list(types),
                    [t.default_weight for t in types.values()],
                    settle_seconds=0.0 if now else SETTLE_SECONDS,
                )
            state = await repo.state(conn, tenant_id)
            computed = state["lists_computed_at"] if state else None
            recompute = now or computed is None or datetime.now(UTC) - computed > self._interval
            if recompute:
                await self._store_lists(conn, tenant_id)
        if recompute:
            await self._cache.invalidate_tenant(tenant_id)
        return True

    async def _store_lists(self, conn: asyncpg.Connection, tenant_id: str) -> None:
        today = datetime.now(UTC).date()
        longest = max(STORED_WINDOWS)
        kinds = await repo.entity_types(conn, tenant_id, today - timedelta(days=longest))
        async with conn.transaction():
            for window in STORED_WINDOWS:
                for kind in [None, *kinds]:
                    items = await repo.compute(conn, tenant_id, window, today, STORED_SIZE, kind)
                    await repo.store(conn, tenant_id, kind, window, items)
            await repo.mark_lists_computed(conn, tenant_id)

    async def trending(
        self,
        tenant_id: str,
        entity_type: str | None,
        count: int,
        window_days: int = DEFAULT_WINDOW,
        exclude: set[tuple[str, str]] | None = None,
        filters: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """The ``count`` best trending entities of the type, minus ``exclude``, among
        those whose attributes match ``filters``."""
        async with self._pool.acquire() as conn:
            if window_days in STORED_WINDOWS and count + len(exclude or ()) <= STORED_SIZE:
                stored = await repo.read(
                    conn, tenant_id, entity_type, window_days, count, exclude, filters
                )
                if stored is not None:
                    return stored
            today = datetime.now(UTC).date()
            scored = await repo.compute(
                conn, tenant_id, window_days, today, count + len(exclude or ()), entity_type
            )
            scored = [s for s in scored if not exclude or (s[0], s[1]) not in exclude][:count]
            attributes = await entities_repo.attributes_by_key(
                conn, tenant_id, [(t, i) for t, i, _ in scored], filters
            )
        return [
            {"entity_type": t, "entity_id": i, "score": s, "attributes": attributes.get((t, i), {})}
            for t, i, s in scored
            if (t, i) in attributes
        ]
