"""Training the collaborative model from the interaction table and publishing it.

One process at a time trains a tenant's model: the trainer holds a PostgreSQL advisory
lock for the tenant while it works, so two replicas (or two `serve` processes on one
database) never train the same tenant at once; the second simply skips.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

import asyncpg
import numpy as np

from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine.log import InteractionLog
from recommendation_engine.engine.vocabulary import Vocabulary
from recommendation_engine.models import effective_weight
from recommendation_engine.service.interaction_types import InteractionTypeService
from recommendation_engine.service.live_models import LiveModels
from recommendation_engine.storage import model_store
from recommendation_engine.storage.model_store import ModelInfo

logger = logging.getLogger(__name__)

ALGORITHM = "sequential_item_knn"
_WRITE_CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class TrainingData:
    log: InteractionLog
    items: Vocabulary[tuple[str, str]]
    last_interaction_id: int


class ModelTrainer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        types: InteractionTypeService,
        live_models: LiveModels,
        config: knn.SequentialKNNConfig = knn.SequentialKNNConfig(),
    ) -> None:
        self._pool = pool
        self._types = types
        self._live = live_models
        self.config = config

    async def rebuild(
        self, tenant_id: str, when: Callable[[str], Awaitable[bool]] | None = None
    ) -> ModelInfo | None:
        """Train and publish a new model version.

        Returns None if another process is training the tenant, or if ``when`` (checked
        once the lock is held, so two replicas never both act on the same staleness)
        says no training is needed.
        """
        async with self._pool.acquire() as lock:
            key = f"model:{tenant_id}"
            if not await lock.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):
                return None
            try:
                if when is not None and not await when(tenant_id):
                    return None
                # Holding the lock, any other unfinished version is a leftover of a
                # process that stopped mid-build.
                await model_store.discard_unfinished(lock, tenant_id)
                return await self._rebuild(tenant_id)
            finally:
                await lock.execute("SELECT pg_advisory_unlock(hashtext($1))", key)

    async def _rebuild(self, tenant_id: str) -> ModelInfo | None:
        started = time.perf_counter()
        async with self._pool.acquire() as conn:
            version = await model_store.begin(conn, tenant_id, ALGORITHM, asdict(self.config))
        try:
            data = await self._load(tenant_id)
            model = await asyncio.to_thread(knn.fit, data.log, self.config)
            await self._write(tenant_id, version, data, model)
        except BaseException:
            async with self._pool.acquire() as conn:
                await model_store.discard(conn, tenant_id, version)
            raise
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                await model_store.publish(
                    conn,
                    tenant_id,
                    version,
                    users=data.log.n_users,
                    items=data.log.n_items,
                    interactions=len(data.log),
                    last_interaction_id=data.last_interaction_id,
                )
            # Fresh statistics, so request queries on the new version use its indexes.
            await conn.execute("ANALYZE model_items, interactions")
            info = await model_store.live(conn, tenant_id)
        self._live.forget(tenant_id)
        logger.info(
            "model %s for tenant %s built in %.1fs",
            version,
            tenant_id,
            time.perf_counter() - started,
        )
        return info

    async def _load(self, tenant_id: str) -> TrainingData:
        types = await self._types.all(tenant_id)
        users: Vocabulary[str] = Vocabulary()
        items: Vocabulary[tuple[str, str]] = Vocabulary()
        user_index: list[int] = []
        item_index: list[int] = []
        weights: list[float] = []
        times: list[float] = []
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            up_to = await model_store.newest_interaction_id(conn, tenant_id)
            async for row in model_store.training_rows(conn, tenant_id, up_to):
                kind = types.get(row["interaction_type"])
                weight = effective_weight(
                    row["weight"], row["value"], kind.default_weight if kind else None
                )
                if weight <= 0:
                    continue
                user_index.append(users.add(row["user_id"]))
                item_index.append(items.add((row["entity_type"], row["entity_id"])))
                weights.append(weight)
                times.append(row["at"])
        log = InteractionLog.build(
            np.asarray(user_index, np.int64),
            np.asarray(item_index, np.int64),
            np.asarray(weights, np.float32),
            np.asarray(times, np.float64),
            n_users=len(users),
            n_items=len(items),
        )
        return TrainingData(log, items, up_to)

    async def _write(
        self, tenant_id: str, version: int, data: TrainingData, model: knn.ItemNeighbours
    ) -> None:
        keys = data.items.keys
        async with self._pool.acquire() as conn:
            for start in range(0, len(keys), _WRITE_CHUNK):
                rows = []
                for item in range(start, min(start + _WRITE_CHUNK, len(keys))):
                    neighbours, scores = model.neighbours_of(item)
                    packed_neighbours, packed_scores = model_store.pack(neighbours, scores)
                    entity_type, entity_id = keys[item]
                    rows.append(
                        (
                            item,
                            entity_type,
                            entity_id,
                            float(model.popularity[item]),
                            packed_neighbours,
                            packed_scores,
                        )
                    )
                await model_store.write_items(conn, tenant_id, version, rows)
