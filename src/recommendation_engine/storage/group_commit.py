"""Group commit: concurrent single-row writes share one statement and one commit.

Each caller awaits its own row's result, which is only set after the transaction
that wrote it has committed, so an acknowledged write is a durable write. Under load
many requests share each commit (and its fsync); alone, a write goes straight through.
A group that fails is written again row by row: one caller's bad row fails that caller
alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import asyncpg

from recommendation_engine.storage.database import is_unavailable

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

WriteMany = Callable[[asyncpg.Connection, Sequence[Item]], Awaitable[list[Result]]]


class GroupCommitter(Generic[Item, Result]):
    def __init__(
        self,
        pool: asyncpg.Pool,
        write_many: WriteMany[Item, Result],
        max_batch: int = 256,
        max_concurrent: int = 4,
    ) -> None:
        self._pool = pool
        self._write_many = write_many
        self._max_batch = max_batch
        self._slots = asyncio.Semaphore(max_concurrent)
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flushing = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flushing == 0 or len(self._pending) >= self._max_batch:
            self._start_flush()
        return await future

    def _start_flush(self) -> None:
        self._flushing += 1
        task = asyncio.get_running_loop().create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        try:
            async with self._slots:
                batch, self._pending = (
                    self._pending[: self._max_batch],
                    self._pending[self._max_batch :],
                )
                if batch:
                    await self._write(batch)
        finally:
            self._flushing -= 1
            if self._pending and self._flushing == 0:
                self._start_flush()

    async def _write(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                results = await self._write_many(conn, [item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1 or is_unavailable(exc):  # alone, each would fail the same
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
            # One row the database refuses fails the whole statement: write each row on
            # its own, so that only the bad one fails.
            logger.warning(
                "a group of %d writes failed (%s); writing them one by one", len(batch), exc
            )
            for entry in batch:
                await self._write([entry])
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
