"""The jobs that take a lease skip a tenant another process holds, on a real database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg

from recommendation_engine.config import EngineSettings
from recommendation_engine.service.interaction_types import InteractionTypeService
from recommendation_engine.service.live_models import LiveModels
from recommendation_engine.service.tenants import TenantService
from recommendation_engine.service.training import ModelTrainer
from recommendation_engine.service.trending import TrendingService
from recommendation_engine.service.webhook_delivery import Outbox
from recommendation_engine.storage.cache import ResponseCache
from recommendation_engine.storage.database import create_pool


def test_trending_refresh_and_training_skip_a_tenant_held_elsewhere(clean_db: str) -> None:
    async def scenario() -> None:
        pool = await create_pool(clean_db, max_size=4)
        other_process = await asyncpg.connect(clean_db)
        try:
            cache = ResponseCache(0)
            types = InteractionTypeService(pool, cache)
            trending = TrendingService(pool, types, timedelta(hours=1), cache)
            tenants = TenantService(pool, EngineSettings(), types, cache, None)
            trainer = ModelTrainer(
                pool, types, LiveModels(), timedelta(hours=1), Outbox(), tenants.config, 512
            )
            for key in ("trending:t1", "model:t1"):
                await other_process.fetchval("SELECT pg_advisory_lock(hashtext($1))", key)
            assert await trending.refresh("t1", now=True) is False
            assert await trainer.rebuild("t1") is None
            assert await other_process.fetchval("SELECT count(*) FROM trending_state") == 0
            assert await other_process.fetchval("SELECT count(*) FROM models") == 0

            await other_process.execute("SELECT pg_advisory_unlock_all()")
            assert await trending.refresh("t1", now=True) is True
            assert await other_process.fetchval("SELECT count(*) FROM trending_state") == 1
            # Given up again: the other process can take both now.
            for key in ("trending:t1", "model:t1"):
                assert await other_process.fetchval(
                    "SELECT pg_try_advisory_lock(hashtext($1))", key
                )
        finally:
            await other_process.close()
            await pool.close()

    asyncio.run(scenario())
