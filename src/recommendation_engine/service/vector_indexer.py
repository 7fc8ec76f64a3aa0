"""Background job: moves newly written entity vectors into the HNSW index.

Entity writes only store the vector (cheap); inserting into the HNSW graph, the costly
part, happens here in batches on one connection, off the request path. Every replica
runs this loop; `FOR UPDATE SKIP LOCKED` lets them share the work without waiting on
each other. Until a vector is indexed, similarity searches compare it exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

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
        self._idle_seconds = idle_seconds
        self._concurrency = concurrency  # graph inserts are CPU-bound in PostgreSQL
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._run(), name=f"vector-indexer-{n}")
                for n in range(self._concurrency)
            ]

    def wake(self) -> None:
        """Look for pending vectors now instead of at the next idle tick."""
        self._wake.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

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
        while True:
            try:
                indexed = await self.run_once()
                if indexed:
                    logger.debug("indexed %d entity vectors", indexed)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("vector indexing failed; retrying")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._idle_seconds)
