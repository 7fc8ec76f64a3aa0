"""Which model version is live for a tenant, remembered for a moment per replica.

Every recommendation request needs the live version; reading it once a second instead
of once a request saves a round trip (a service.ttl_cache.TTLCache: concurrent requests
for a tenant whose copy expired share one read). A version published by this process is
seen at once (the trainer calls `forget`); one published by another replica within a
second.
"""

from __future__ import annotations

import asyncpg

from recommendation_engine.service.ttl_cache import TTLCache
from recommendation_engine.storage import model_store
from recommendation_engine.storage.model_store import ModelInfo

TTL_SECONDS = 1.0


class LiveModels:
    def __init__(self) -> None:
        self._known: TTLCache[str, ModelInfo | None] = TTLCache(TTL_SECONDS)

    async def get(self, conn: asyncpg.Connection, tenant_id: str) -> ModelInfo | None:
        return await self._known.get_or_load(tenant_id, lambda: model_store.live(conn, tenant_id))

    async def current(self, pool: asyncpg.Pool, tenant_id: str) -> ModelInfo | None:
        """The live version; a connection is taken only when it must be read."""

        async def read() -> ModelInfo | None:
            async with pool.acquire() as conn:
                return await model_store.live(conn, tenant_id)

        return await self._known.get_or_load(tenant_id, read)

    def forget(self, tenant_id: str) -> None:
        self._known.pop(tenant_id)
