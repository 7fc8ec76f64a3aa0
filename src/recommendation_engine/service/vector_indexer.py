"""Background job: moves newly written entity vectors into the HNSW index.

Entity writes only store the vector (cheap); inserting into the HNSW graph, the costly
part, happens here in batches on one connection, off the request path. Every replica
runs this job (a service.background.PeriodicJob with two workers); `FOR NO KEY UPDATE
SKIP LOCKED` lets them all share the work without waiting on each other, and leaves the
rows free for what only needs them to exist: an interaction's foreign key check goes on
while its entity is being indexed (with `FOR UPDATE` an import of interactions waited
for every batch that held one of its entities). Until a vector is indexed, similarity
searches compare it exactly.
"""

from __future__ import annotations

import logging

import asyncpg

from recommendation_engine.service.background import PeriodicJob
from recommendation_engine.storage import entities as repo

logger = logging.getLogger(__name__)


class VectorIndexer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        batch_size: int = 500,
        idle_seconds: float = 0.5,
        concurrency: int = 2,
    ) -> None:
        self._pool = pool
        self._batch_size = batch_size
        # Graph inserts are CPU-bound in PostgreSQL: ``concurrency`` workers share them.
        self._job = PeriodicJob(
            "vector-indexer", self._run, idle_seconds, workers=concurrency, log=logger
        )

    def start(self) -> None:
        self._job.start()

    def wake(self) -> None:
        """Look for pending vectors now instead of at the next idle tick."""
        self._job.wake()

    async def stop(self) -> None:
        await self._job.stop()

    async def run_once(self) -> int:
        """Index everything pending now; returns how many vectors were indexed."""
        total = 0
        while True:
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    done = await repo.index_pending(conn, self._batch_size)
            except asyncpg.DataError:
                # One vector the index cannot hold fails the whole batch: go one by one.
                done = await self._index_singly()
            total += done
            if done < self._batch_size:
                return total

    async def _index_singly(self) -> int:
        """Index a batch one row at a time, setting aside each row that fails; returns
        how many rows it took off the pending list."""
        async with self._pool.acquire() as conn, conn.transaction():
            keys = await repo.pending_keys(conn, self._batch_size)
            for key in keys:
                try:
                    async with conn.transaction():  # a savepoint
                        await repo.mark_indexed(conn, key, True)
                except asyncpg.DataError as error:
                    await repo.mark_indexed(conn, key, None)
                    tenant, entity_type, entity_id = key
                    logger.warning(
                        "entity %r of type %r (tenant %r) is left out of vector search: "
                        "its vector cannot be indexed (%s)",
                        entity_id,
                        entity_type,
                        tenant,
                        error,
                    )
        return len(keys)

    async def _run(self) -> None:
        indexed = await self.run_once()
        if indexed:
            logger.debug("indexed %d entity vectors", indexed)
