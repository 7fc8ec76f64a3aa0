"""Background jobs of one replica: keeping each tenant's model and trending data current.

Every INCREMENTAL_UPDATE_INTERVAL_SECS the scheduler looks at every tenant with
interactions and folds the interactions that arrived since the live version into it
(an incremental update), or trains it from scratch when it has none or its last full
training is older than FULL_REBUILD_INTERVAL_HOURS (which also applies changed
interaction-type weights). All replicas run the scheduler; the trainer's per-tenant
advisory lock makes sure one of them does the work while the others skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg

from recommendation_engine.service.training import ModelTrainer
from recommendation_engine.service.trending import TrendingService
from recommendation_engine.storage import model_store

logger = logging.getLogger(__name__)


class ModelScheduler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        trainer: ModelTrainer,
        trending: TrendingService,
        update_interval: float,
    ) -> None:
        self._pool = pool
        self._trainer = trainer
        self._trending = trending
        self._update_interval = update_interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="model-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def tick(self) -> list[str]:
        """Refresh trending data, and update every tenant whose model is missing, behind
        the interactions or due for a full rebuild; returns the updated tenants."""
        async with self._pool.acquire() as conn:
            tenants = await model_store.tenants_with_interactions(conn)
        retrained = []
        for tenant in tenants:
            await self._trending.refresh(tenant)
            if await self._trainer.update(tenant) is not None:
                retrained.append(tenant)
        return retrained

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("scheduled model update failed; retrying at the next tick")
            await asyncio.sleep(self.pause(time.monotonic() - started))

    def pause(self, worked: float) -> float:
        """Seconds to wait after a tick that took ``worked``: the update interval, or as
        long as the tick took when that was longer. On a large tenant an update takes
        minutes (ten million interactions: one to three), and back to back they would
        take a core for good, from a bulk import among others; so they take at most
        about half of the time."""
        return max(self._update_interval, worked)
