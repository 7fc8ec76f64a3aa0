"""Which model version is live for a tenant, remembered for a moment per replica.

Every recommendation request needs the live version; reading it once a second instead
of once a request saves a round trip. A version published by this process is seen at
once (the trainer calls `forget`); one published by another replica within a second.
"""

from __future__ import annotations

import time

import asyncpg

from recommendation_engine.storage import model_store
from recommendation_engine.storage.model_store import ModelInfo

TTL_SECONDS = 1.0


class LiveModels:
    def __init__(self) -> None:
        self._known: dict[str, tuple[float, ModelInfo | None]] = {}

    async def get(self, conn: asyncpg.Connection, tenant_id: str) -> ModelInfo | None:
        known = self._known.get(tenant_id)
        if known is not None and time.monotonic() - known[0] < TTL_SECONDS:
            return known[1]
        info = await model_store.live(conn, tenant_id)
        self._known[tenant_id] = (time.monotonic(), info)
        return info

    async def current(self, pool: asyncpg.Pool, tenant_id: str) -> ModelInfo | None:
        """The live version; a connection is taken only when it must be read."""
        known = self._known.get(tenant_id)
        if known is not None and time.monotonic() - known[0] < TTL_SECONDS:
            return known[1]
        async with pool.acquire() as conn:
            return await self.get(conn, tenant_id)

    def forget(self, tenant_id: str) -> None:
        self._known.pop(tenant_id, None)
