"""Offline evaluation of a tenant's own data, run from the dashboard.

The tenant's interactions (read as training reads them) and its entities' stored
feature vectors make a `Dataset`; `offline_evaluation.run` evaluates it in a worker
thread, off the event loop. Each run is a row of `evaluation_runs`, so that its
progress and report can be read from any replica, and survive a reload of the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from recommendation_engine.engine.vocabulary import Vocabulary
from recommendation_engine.service import low_priority, offline_evaluation
from recommendation_engine.service.background import BackgroundTasks
from recommendation_engine.service.offline_evaluation import Dataset
from recommendation_engine.service.tenants import TenantService
from recommendation_engine.service.training import ModelTrainer, starting_config
from recommendation_engine.storage import dashboard as repo

logger = logging.getLogger(__name__)

# How often a running evaluation writes its progress (and shows it is alive).
HEARTBEAT_SECONDS = 1.0
STALE = timedelta(minutes=1)
# Users and interactions an evaluation needs at the least to split off a test set.
MIN_INTERACTIONS = 10


class NotEnoughData(Exception):
    pass


async def read_dataset(trainer: ModelTrainer, tenant_id: str) -> Dataset:
    """The tenant's interaction log and its items' feature vectors, as a build reads them."""
    data = await trainer.read_log(tenant_id)
    vectors = await trainer.read_vectors(tenant_id, data)
    keys = Vocabulary[str](f"{t}/{i}" for t, i in data.items.keys)
    return Dataset(data.log, keys, vectors, source=f"tenant {tenant_id}")


def _checked(run: dict[str, Any]) -> dict[str, Any]:
    """A run that stopped reporting progress (its process stopped) shows as failed."""
    if run["state"] == "running" and run["updated_at"] < datetime.now(UTC) - STALE:
        return {**run, "state": "failed", "error": "interrupted: the service stopped"}
    return run


class TenantEvaluations:
    def __init__(
        self,
        pool: asyncpg.Pool,
        trainer: ModelTrainer,
        tenants: TenantService,
    ) -> None:
        self._pool = pool
        self._trainer = trainer
        self._tenants = tenants
        self._tasks = BackgroundTasks()
        # Evaluations are heavy: one at a time in a process, the others wait their turn.
        self._one_at_a_time = asyncio.Semaphore(1)

    async def start(self, tenant_id: str) -> str | None:
        """Start an evaluation of the tenant's data; its run id, or None when one of the
        tenant's is running already."""
        async with self._pool.acquire() as conn:
            run_id = await repo.start_evaluation(conn, tenant_id)
        if run_id is not None:
            self._tasks.start(self._run(tenant_id, run_id), f"evaluate-{tenant_id}")
        return run_id

    async def get(self, tenant_id: str, run_id: str) -> dict[str, Any] | None:
        async with self._pool.acquire() as conn:
            run = await repo.evaluation(conn, tenant_id, run_id)
        return _checked(run) if run else None

    async def latest(self, tenant_id: str, limit: int = 10) -> list[dict[str, Any]]:
        async with self._pool.acquire() as conn:
            return [_checked(run) for run in await repo.evaluations(conn, tenant_id, limit)]

    async def stop(self) -> None:
        await self._tasks.stop()

    async def _run(self, tenant_id: str, run_id: str) -> None:
        progress = [0, 0, "waiting for another evaluation to finish"]
        heartbeat = asyncio.create_task(self._beat(run_id, progress))
        try:
            async with self._one_at_a_time:
                progress[2] = "reading the tenant's interactions and entities"
                dataset = await read_dataset(self._trainer, tenant_id)
                if len(dataset.log) < MIN_INTERACTIONS or dataset.log.n_users < 2:
                    raise NotEnoughData(
                        f"the tenant has {len(dataset.log)} interactions of "
                        f"{dataset.log.n_users} users: too few to evaluate"
                    )
                config = await self._tenants.config(tenant_id)
                weights = (config.collaborative_weight, config.content_based_weight)

                def told(done: int, steps: int, what: str) -> None:
                    progress[:] = [done, steps, what]

                report = await low_priority.run(
                    offline_evaluation.run,
                    dataset,
                    base=starting_config(config),
                    tuned=config.auto_tuning,
                    fixed=tuple(config.model_settings),
                    weights=weights if config.weights_pinned else None,
                    progress=told,
                )
            result = orjson.loads(orjson.dumps(asdict(report), option=orjson.OPT_SERIALIZE_NUMPY))
            error = None
        except NotEnoughData as exc:
            result, error = None, str(exc)
        except asyncio.CancelledError:
            result, error = None, "stopped: the service shut down"
            raise
        except Exception as exc:
            logger.exception("evaluation of tenant %s failed", tenant_id)
            result, error = None, f"the evaluation failed: {exc}"
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            async with self._pool.acquire() as conn:
                await repo.finish_evaluation(conn, run_id, result, error)

    async def _beat(self, run_id: str, progress: list[Any]) -> None:
        while True:
            async with self._pool.acquire() as conn:
                await repo.update_evaluation(conn, run_id, *progress)
            await asyncio.sleep(HEARTBEAT_SECONDS)
