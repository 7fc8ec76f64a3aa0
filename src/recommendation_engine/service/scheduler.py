"""Background jobs of one replica: keeping each tenant's model and trending data current.

Every INCREMENTAL_UPDATE_INTERVAL_SECS (and at least three times as long as its last
run took: it is busy at most a quarter of the time) the scheduler looks at every tenant with
interactions and folds the interactions that arrived since the live version into it
(an incremental update), or trains it from scratch when it has none or its last full
training is older than FULL_REBUILD_INTERVAL_HOURS (which also applies changed
interaction-type weights). All replicas run the scheduler; the per-tenant leases of the
trainer and of the trending refresh (storage.lease) make sure one of them does the work
while the others skip.
"""

from __future__ import annotations

import logging

import asyncpg

from recommendation_engine.service.background import PeriodicJob
from recommendation_engine.service.training import ModelTrainer
from recommendation_engine.service.trending import TrendingService
from recommendation_engine.storage import model_store

logger = logging.getLogger(__name__)

# The share of time the scheduler may spend training: after a run of d seconds it rests
# at least 3 d, so that on a large catalogue, where an update takes long, requests keep
# most of the replica's CPU however often interactions arrive.
MAX_BUSY = 0.25


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
        self._job = PeriodicJob(
            "model-scheduler", self._run, update_interval, max_busy=MAX_BUSY, log=logger
        )

    def start(self) -> None:
        self._job.start()

    async def stop(self) -> None:
        await self._job.stop()

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
        await self.tick()
