"""Impressions: what each recommendation answer showed, recorded off the request path.

A request appends one tuple to this process's buffer (no I/O, no parsing: the answer's
rendered body is kept as it is, and a computed answer's list as it was rendered). A
background job writes the buffer in batches with one COPY each, every ``flush_interval``
seconds, or at once when a batch is full; the entities shown are taken from the lists
there, or read out of the bodies of answers that came from a cache. On a graceful stop
the job writes whatever is left before the pool closes. A failed write keeps its rows
for the next run; beyond ``max_buffered`` rows (the database away for long) new impressions are
dropped and counted in ``impressions_dropped_total``. Impressions older than the
retention are deleted by another job, hourly, in batches.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from recommendation_engine import metrics
from recommendation_engine.service.background import PeriodicJob
from recommendation_engine.service.recommendations import LIST_FIELD
from recommendation_engine.storage import impressions as repo

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000
PRUNE_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Impression:
    tenant_id: str
    recommendation_id: UUID
    user_id: str | None
    experiment_id: UUID | None
    variant: str | None
    route: str
    algorithm: str
    body: bytes  # the answer as rendered (shared with the response cache, not copied)
    shown_at: float  # time.time()
    listed: list[dict[str, Any]] | None = None  # the body's list, when it was computed


class ImpressionLog:
    def __init__(
        self,
        pool: asyncpg.Pool,
        flush_interval: float,
        max_buffered: int = 1_000_000,
        retention: timedelta = timedelta(days=90),
    ) -> None:
        self._pool = pool
        self._max = max_buffered
        self._retention = retention
        self._rows: list[Impression] = []
        self._job = PeriodicJob("impressions", self.flush, flush_interval, log=logger)
        self._pruning = PeriodicJob("impressions-prune", self.prune, PRUNE_SECONDS, log=logger)

    def __len__(self) -> int:
        return len(self._rows)

    def record(self, impression: Impression) -> None:
        """Buffer one impression (called on the request path: no I/O)."""
        if len(self._rows) >= self._max:
            metrics.IMPRESSIONS_DROPPED.inc()
            return
        self._rows.append(impression)
        if len(self._rows) == BATCH_SIZE:
            self._job.wake()

    def start(self) -> None:
        self._job.start()
        self._pruning.start()

    async def prune(self) -> bool:
        """Delete one batch of impressions older than the retention; True when there
        may be more."""
        async with self._pool.acquire() as conn:
            deleted = await repo.prune(conn, self._retention)
        return deleted >= 10_000

    async def stop(self) -> None:
        """Stop the jobs, then write every impression still buffered."""
        await self._pruning.stop()
        await self._job.stop()
        while self._rows:
            try:
                await self.flush()
            except Exception:
                logger.exception("impressions could not be written at shutdown: %d lost", len(self))
                self._rows.clear()
        metrics.IMPRESSIONS_BUFFERED.set(0)

    async def flush(self) -> bool:
        """Write one batch; True when more are waiting."""
        batch, self._rows = self._rows[:BATCH_SIZE], self._rows[BATCH_SIZE:]
        metrics.IMPRESSIONS_BUFFERED.set(len(self._rows))
        if not batch:
            return False
        try:
            records = _records(batch)
            async with self._pool.acquire() as conn:
                await repo.write(conn, records)
        except asyncpg.UniqueViolationError:
            pass  # written already by a run whose answer was lost: one COPY, all or nothing
        except BaseException:
            self._rows[:0] = batch  # kept for the next run (or the final flush)
            metrics.IMPRESSIONS_BUFFERED.set(len(self._rows))
            raise
        metrics.IMPRESSIONS_WRITTEN.inc(len(batch))
        return bool(self._rows)


def _records(batch: list[Impression]) -> list[tuple[object, ...]]:
    shown: dict[int, tuple[list[str], list[str]]] = {}
    records = []
    for item in batch:
        if item.listed is not None:
            entities = _listed(item.listed)
        else:
            entities = shown.get(id(item.body))
            if entities is None:
                entities = _listed(orjson.loads(item.body).get(LIST_FIELD[item.route]) or [])
                shown[id(item.body)] = entities
        records.append(
            (
                item.tenant_id,
                item.recommendation_id,
                item.user_id,
                item.experiment_id,
                item.variant,
                item.route,
                item.algorithm,
                entities[0],
                entities[1],
                datetime.fromtimestamp(item.shown_at, UTC),
            )
        )
    return records


def _listed(listed: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    return [r["entity_type"] for r in listed], [r["entity_id"] for r in listed]


def now() -> float:
    return time.time()
