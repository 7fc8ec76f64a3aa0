"""Training the collaborative model from the interaction table and publishing it.

A full rebuild trains every item's neighbour list from the whole table. An incremental
update folds in the interactions recorded since the live version: it recomputes exactly
the items whose lists those interactions change (their own items and the items near
them in the same users' histories) and publishes a version holding only those rows.
Other items keep their lists until the next full rebuild (their scores' popularity
normalisation may drift a little meanwhile).

The process that built or updated the live version keeps its interaction log in
memory, and the log's summed co-occurrence matrix when that is small enough, so its
next update reads only the new rows and recounts only the pairs they change; without
the matrix, the changed lists are recomputed from the log. Another process first
restores both from the table, numbered as the live version numbers its items.

One process at a time trains a tenant's model: the trainer holds the tenant's lease (a
PostgreSQL advisory lock, see storage.lease) while it works, so two replicas (or two
`serve` processes on one database) never train the same tenant at once; the second
simply skips.
"""

from __future__ import annotations

import asyncio
import logging
import time
from array import array
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import scipy.sparse as sp

from recommendation_engine import metrics
from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine.log import InteractionLog
from recommendation_engine.engine.vocabulary import Vocabulary
from recommendation_engine.models import effective_weight
from recommendation_engine.service.interaction_types import InteractionTypeService
from recommendation_engine.service.live_models import LiveModels
from recommendation_engine.service.webhook_delivery import Outbox
from recommendation_engine.storage import model_store
from recommendation_engine.storage.lease import lease
from recommendation_engine.storage.model_store import ModelInfo, ModelRef

logger = logging.getLogger(__name__)

ALGORITHM = "sequential_item_knn"
_WRITE_CHUNK = 20_000
# Entries of a co-occurrence matrix worth keeping between updates (12 bytes each).
KEEP_COOCCURRENCE_ENTRIES = 30_000_000


@dataclass(frozen=True, slots=True)
class TrainingData:
    """A tenant's interaction log up to ``last_interaction_id``, numbered by the two
    vocabularies; ``model`` is the version it was trained into (None before that)."""

    log: InteractionLog
    users: Vocabulary[str]
    items: Vocabulary[tuple[str, str]]
    last_interaction_id: int
    model: ModelRef | None = None
    # The log's summed co-occurrence, when small enough to keep: an update then adds
    # only what the new interactions change instead of recomputing lists from the log.
    cooccurrence: sp.csr_matrix | None = None


def _announced(model: ModelInfo) -> dict[str, Any]:
    """A newly published model version as the model.updated event shows it."""
    return {
        "version": model.version,
        "algorithm": model.algorithm,
        "incremental": model.incremental,
        "base_version": model.base_version,
        "trained_at": model.trained_at,
        "updated_at": model.updated_at,
        "users": model.users,
        "entities": model.items,
        "interactions": model.interactions,
    }


class ModelTrainer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        types: InteractionTypeService,
        live_models: LiveModels,
        full_rebuild_interval: timedelta,
        outbox: Outbox,
        config: knn.SequentialKNNConfig = knn.SequentialKNNConfig(),
    ) -> None:
        self._pool = pool
        self._outbox = outbox
        self._types = types
        self._live = live_models
        self._full_rebuild_interval = full_rebuild_interval
        self.config = config
        self._trained: dict[str, TrainingData] = {}

    async def rebuild(self, tenant_id: str) -> ModelInfo | None:
        """Train and publish a new model version from scratch; None if another process
        is training the tenant."""
        return await self._locked(tenant_id, lambda: self._rebuild(tenant_id))

    async def update(self, tenant_id: str) -> ModelInfo | None:
        """Bring the tenant's model up to date: a full rebuild when it has none or the
        live one was fully trained more than FULL_REBUILD_INTERVAL_HOURS ago, otherwise an
        incremental update when interactions arrived since. None when nothing was
        needed or another process holds the tenant."""

        async def due() -> ModelInfo | None:
            async with self._pool.acquire() as conn:
                live = await model_store.live(conn, tenant_id)
                newest = await model_store.newest_interaction_id(conn, tenant_id)
            if live is None or (
                live.trained_at is not None
                and datetime.now(UTC) - live.trained_at > self._full_rebuild_interval
            ):
                return await self._rebuild(tenant_id)
            if newest > live.last_interaction_id:
                return await self._update(tenant_id, live)
            return None

        return await self._locked(tenant_id, due)

    async def _locked(
        self, tenant_id: str, work: Callable[[], Awaitable[ModelInfo | None]]
    ) -> ModelInfo | None:
        async with lease(self._pool, f"model:{tenant_id}") as held:
            if held is None:
                return None
            # Holding the lease, any other unfinished version is a leftover of a process
            # that stopped mid-build.
            await model_store.discard_unfinished(held, tenant_id)
            return await work()

    async def _rebuild(self, tenant_id: str) -> ModelInfo | None:
        started = time.perf_counter()
        self._trained.pop(tenant_id, None)
        async with self._pool.acquire() as conn:
            ref = await model_store.begin(conn, tenant_id, ALGORITHM, asdict(self.config))
        try:
            data = await self.read_log(tenant_id)
            model, kept = await asyncio.to_thread(
                knn.fit_keeping, data.log, self.config, KEEP_COOCCURRENCE_ENTRIES
            )
            data = replace(data, cooccurrence=kept)
            await self._write(tenant_id, ref, data, model, range(data.log.n_items))
        except BaseException:
            async with self._pool.acquire() as conn:
                await model_store.discard(conn, tenant_id, ref)
            raise
        return await self._publish(tenant_id, ref, data, "built", started)

    async def _update(self, tenant_id: str, live: ModelInfo) -> ModelInfo | None:
        started = time.perf_counter()
        known = self._trained.get(tenant_id)
        if known is None or known.model != live.ref:
            known = await self._restore(tenant_id, live)
        # Its vocabularies learn the new keys below: kept again only once published.
        self._trained.pop(tenant_id, None)
        async with self._pool.acquire() as conn:
            ref = await model_store.begin(
                conn, tenant_id, ALGORITHM, asdict(self.config), base=live
            )
        try:
            new = await self._read(
                tenant_id, known.users, known.items, after_id=known.last_interaction_id
            )
            log, is_new = known.log.extended(
                new.log.users,
                new.log.items,
                new.log.weights,
                new.log.times,
                n_users=len(known.users),
                n_items=len(known.items),
            )
            kept = known.cooccurrence
            if kept is not None:
                model, kept, touched = await asyncio.to_thread(
                    knn.update, known.log, log, self.config, is_new, kept
                )
                if kept.nnz > KEEP_COOCCURRENCE_ENTRIES:
                    kept = None
            else:
                touched = await asyncio.to_thread(knn.touched_items, log, self.config, is_new)
                model = await asyncio.to_thread(knn.fit_items, log, self.config, touched)
            data = TrainingData(
                log, known.users, known.items, new.last_interaction_id, cooccurrence=kept
            )
            await self._write(tenant_id, ref, data, model, touched.tolist())
        except BaseException:
            async with self._pool.acquire() as conn:
                await model_store.discard(conn, tenant_id, ref)
            raise
        return await self._publish(
            tenant_id, ref, data, f"updated ({len(touched)} items changed)", started
        )

    async def _publish(
        self, tenant_id: str, ref: ModelRef, data: TrainingData, what: str, started: float
    ) -> ModelInfo | None:
        async with self._pool.acquire() as conn:
            if ref.base == ref.version:
                # Statistics that know the new base's rows before any request plans a
                # query on it: planned without them, a request on a million-entity model
                # took over a minute.
                await conn.execute("ANALYZE model_items, interactions, entities")
            async with conn.transaction():
                await model_store.publish(
                    conn,
                    tenant_id,
                    ref,
                    users=data.log.n_users,
                    items=data.log.n_items,
                    interactions=len(data.log),
                    last_interaction_id=data.last_interaction_id,
                )
                info = await model_store.live(conn, tenant_id)
                if info is not None and await self._outbox.wanted(
                    conn, [tenant_id], "model.updated"
                ):
                    await self._outbox.add(conn, tenant_id, "model.updated", _announced(info))
        self._outbox.notify()
        self._trained[tenant_id] = replace(data, model=ref)
        self._live.forget(tenant_id)
        kind = "full" if ref.base == ref.version else "incremental"
        metrics.MODEL_BUILD_SECONDS.labels(kind).observe(time.perf_counter() - started)
        logger.info(
            "model %s for tenant %s %s in %.1fs",
            ref.version,
            tenant_id,
            what,
            time.perf_counter() - started,
        )
        return info

    async def _restore(self, tenant_id: str, live: ModelInfo) -> TrainingData:
        """The live version's log, read back from the table with its item numbering."""
        async with self._pool.acquire() as conn:
            keys = await model_store.item_keys(conn, tenant_id, live.ref)
        items: Vocabulary[tuple[str, str]] = Vocabulary()
        for item, entity_type, entity_id in keys:
            if items.add((entity_type, entity_id)) != item:
                raise RuntimeError(f"model {live.version} does not number its items densely")
        data = await self._read(
            tenant_id, Vocabulary(), items, after_id=0, up_to=live.last_interaction_id
        )
        kept = await asyncio.to_thread(
            knn.summed_cooccurrence, data.log, self.config, KEEP_COOCCURRENCE_ENTRIES
        )
        return replace(data, model=live.ref, cooccurrence=kept)

    async def read_log(self, tenant_id: str) -> TrainingData:
        """The tenant's whole interaction log, weighted and numbered as training reads it."""
        return await self._read(tenant_id, Vocabulary(), Vocabulary(), after_id=0)

    async def _read(
        self,
        tenant_id: str,
        users: Vocabulary[str],
        items: Vocabulary[tuple[str, str]],
        after_id: int,
        up_to: int | None = None,
    ) -> TrainingData:
        """Interactions with ids in (after_id, up_to] (up to the newest when None),
        numbered by ``users`` and ``items``, which learn the keys they have not seen."""
        types = await self._types.all(tenant_id)
        # Typed arrays: a Python list of ten million numbers costs several times more.
        user_index, item_index = array("q"), array("q")
        weights, times = array("f"), array("d")
        ignored = 0
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            if up_to is None:
                up_to = await model_store.newest_interaction_id(conn, tenant_id)
            async for row in model_store.training_rows(conn, tenant_id, after_id, up_to):
                kind = types.get(row["interaction_type"])
                weight = effective_weight(
                    row["weight"], row["value"], kind.default_weight if kind else None
                )
                if weight is None:
                    ignored += 1
                    continue
                if weight <= 0:
                    continue
                user_index.append(users.add(row["user_id"]))
                item_index.append(items.add((row["entity_type"], row["entity_id"])))
                weights.append(weight)
                times.append(row["at"])
        if ignored:
            metrics.INTERACTIONS_IGNORED.labels("training").inc(ignored)
            logger.warning(
                "training tenant %s: %d interactions ignored, their weight or value out of range",
                tenant_id,
                ignored,
            )
        log = InteractionLog.build(
            np.frombuffer(user_index, np.int64),
            np.frombuffer(item_index, np.int64),
            np.frombuffer(weights, np.float32),
            np.frombuffer(times, np.float64),
            n_users=len(users),
            n_items=len(items),
        )
        return TrainingData(log, users, items, up_to)

    async def _write(
        self,
        tenant_id: str,
        ref: ModelRef,
        data: TrainingData,
        model: knn.ItemNeighbours,
        items: Iterable[int],
    ) -> None:
        keys = data.items.keys
        chosen = list(items)
        async with self._pool.acquire() as conn:
            for start in range(0, len(chosen), _WRITE_CHUNK):
                rows = []
                for item in chosen[start : start + _WRITE_CHUNK]:
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
                await model_store.write_items(conn, tenant_id, ref, rows)
