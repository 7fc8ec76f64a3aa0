"""Training the default model from the interaction table and publishing it.

A full rebuild reads the whole table and the entities' feature vectors, tunes the model
on a temporal validation split of the tenant's own data (`engine.tuning`; unless the
tenant turned tuning off), fits it, and writes every item's three lists: sequential
neighbours, long-term weights and content neighbours (`engine.ensemble`). The chosen
settings, their validation metrics and what the build took are saved with the version.
A build's tuning gets a budget of twice what the previous build took besides tuning. An incremental
update folds in the interactions recorded since the live version: it recomputes exactly
the sequential lists those interactions change (their own items and the items near
them in the same users' histories), with the live version's settings, and publishes a
version holding only those rows; their long-term and content lists are carried over
(both are refreshed at the next full rebuild).
Other items keep their lists until the next full rebuild (their scores' popularity
normalisation may drift a little meanwhile).

The fit and the update's counting run in the low-priority worker process
(`model_worker`), which keeps the live version's interaction log, and the log's summed
co-occurrence when that is small enough: the next update reads only the new rows, sends
them there and recounts only the pairs they change; without the matrix, the changed
lists are recomputed from the log. The serving process keeps only how the version
numbers its users and items. A process whose worker holds nothing of the live version
(another replica built it, or the worker was started since) first reads the log back
from the table, numbered as the live version numbers its items, and hands it over.

One process at a time trains a tenant's model: the trainer holds the tenant's lease (a
PostgreSQL advisory lock, see storage.lease) while it works, so two replicas (or two
`serve` processes on one database) never train the same tenant at once; the second
simply skips.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np

from recommendation_engine import metrics
from recommendation_engine.engine import content_neighbours, ensemble, ranking, tuning
from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine.log import InteractionLog
from recommendation_engine.engine.vocabulary import Vocabulary
from recommendation_engine.models import effective_weights
from recommendation_engine.service import low_priority, model_worker
from recommendation_engine.service.interaction_types import InteractionTypeService
from recommendation_engine.service.live_models import LiveModels
from recommendation_engine.service.tenants import TenantConfig
from recommendation_engine.service.webhook_delivery import Outbox
from recommendation_engine.storage import model_store
from recommendation_engine.storage.lease import lease
from recommendation_engine.storage.model_store import ModelInfo, ModelRef

logger = logging.getLogger(__name__)

ALGORITHM = "ensemble"
_WRITE_CHUNK = 20_000
# Entries of a co-occurrence matrix worth keeping between updates (12 bytes each).
KEEP_COOCCURRENCE_ENTRIES = 30_000_000


@dataclass(frozen=True, slots=True)
class TrainingData:
    """A tenant's interaction log up to ``last_interaction_id``, numbered by the two
    vocabularies."""

    log: InteractionLog
    users: Vocabulary[str]
    items: Vocabulary[tuple[str, str]]
    last_interaction_id: int


@dataclass(frozen=True, slots=True)
class Numbering:
    """How model version ``model``, built or updated by this process, numbers users and
    items, and the last interaction it took in (the worker process keeps its log)."""

    users: Vocabulary[str]
    items: Vocabulary[tuple[str, str]]
    last_interaction_id: int
    model: ModelRef


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
        settings: Callable[[str], Awaitable[TenantConfig]],
        dimension: int,
    ) -> None:
        self._pool = pool
        self._outbox = outbox
        self._types = types
        self._live = live_models
        self._full_rebuild_interval = full_rebuild_interval
        self._settings = settings
        self._dimension = dimension
        self._trained: dict[str, Numbering] = {}

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
        settings = await self._settings(tenant_id)
        base = starting_config(settings)
        async with self._pool.acquire() as conn:
            previous = await model_store.live(conn, tenant_id)
            ref = await model_store.begin(conn, tenant_id, ALGORITHM, ensemble.config_dict(base))
        try:
            data = await self.read_log(tenant_id)
            vectors = await self.read_vectors(tenant_id, data, catalogue=True)
            data, vectors = await low_priority.run(in_key_order, data, vectors)
            read = time.perf_counter()
            built = await low_priority.apart(
                model_worker.build,
                tenant_id,
                ref.version,
                data.log,
                vectors,
                base,
                tuned=settings.auto_tuning,
                fixed=tuple(settings.model_settings),
                budget_seconds=tuning_budget(previous),
                keep_entries=KEEP_COOCCURRENCE_ENTRIES,
            )
            trained = time.perf_counter()
            await self._write(tenant_id, ref, data.items, built.model, range(data.log.n_items))
            written = time.perf_counter()
            tuning_seconds = built.tuning.seconds if built.tuning else 0.0
            config = {
                **built.config_dict(),
                # What the build took besides its tuning (reading, fitting, writing): the
                # next build's tuning gets twice this.
                "build_seconds": round(time.perf_counter() - started - tuning_seconds, 3),
            }
            async with self._pool.acquire() as conn:
                await model_store.set_config(conn, tenant_id, ref, config)
        except BaseException:
            async with self._pool.acquire() as conn:
                await model_store.discard(conn, tenant_id, ref)
            raise
        what = f"built (read {read - started:.1f}s"
        if built.tuning is not None:
            what += f", tuned {built.tuning.seconds:.1f}s"
        what += f", fitted {built.fit_seconds:.1f}s, written {written - trained:.1f}s)"
        numbering = Numbering(data.users, data.items, data.last_interaction_id, ref)
        return await self._publish(
            tenant_id,
            numbering,
            what,
            started,
            users=data.log.n_users,
            items=data.log.n_items,
            interactions=len(data.log),
        )

    async def _update(self, tenant_id: str, live: ModelInfo) -> ModelInfo | None:
        started = time.perf_counter()
        # Its vocabularies learn the new keys below: kept again only once published.
        known = self._trained.pop(tenant_id, None)
        if (
            known is None
            or known.model != live.ref
            or not await low_priority.apart(model_worker.holds, tenant_id, live.version)
        ):
            known = await self._restore(tenant_id, live)
        restored = time.perf_counter()
        config = ensemble.config_from_dict(live.config).sequential
        async with self._pool.acquire() as conn:
            ref = await model_store.begin(conn, tenant_id, live.algorithm, live.config, base=live)
        try:
            new = await self._read(
                tenant_id, known.users, known.items, after_id=known.last_interaction_id
            )
            read = time.perf_counter()
            updated = await low_priority.apart(
                model_worker.update,
                tenant_id,
                live.version,
                ref.version,
                new.log,
                config,
                KEEP_COOCCURRENCE_ENTRIES,
            )
            touched = updated.touched.tolist()
            trained = time.perf_counter()
            await self._write(tenant_id, ref, known.items, updated.model, touched)
            written = time.perf_counter()
        except BaseException:
            async with self._pool.acquire() as conn:
                await model_store.discard(conn, tenant_id, ref)
            raise
        numbering = Numbering(known.users, known.items, new.last_interaction_id, ref)
        return await self._publish(
            tenant_id,
            numbering,
            f"updated ({len(touched)} items changed; restored {restored - started:.1f}s, "
            f"read {read - restored:.1f}s, fitted {trained - read:.1f}s, "
            f"written {written - trained:.1f}s)",
            started,
            users=updated.users,
            items=updated.items,
            interactions=updated.interactions,
        )

    async def _publish(
        self,
        tenant_id: str,
        numbering: Numbering,
        what: str,
        started: float,
        *,
        users: int,
        items: int,
        interactions: int,
    ) -> ModelInfo | None:
        """Make the version live, with the size of the log it was trained on."""
        ref = numbering.model
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
                    users=users,
                    items=items,
                    interactions=interactions,
                    last_interaction_id=numbering.last_interaction_id,
                )
                info = await model_store.live(conn, tenant_id)
                if info is not None and await self._outbox.wanted(
                    conn, [tenant_id], "model.updated"
                ):
                    await self._outbox.add(conn, tenant_id, "model.updated", _announced(info))
        self._outbox.notify()
        self._trained[tenant_id] = numbering
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

    async def _restore(self, tenant_id: str, live: ModelInfo) -> Numbering:
        """Read the live version's log back from the table with its item numbering, and
        hand it to the worker process."""
        async with self._pool.acquire() as conn:
            keys = await model_store.item_keys(conn, tenant_id, live.ref)
        items: Vocabulary[tuple[str, str]] = Vocabulary()
        for item, entity_type, entity_id in keys:
            if items.add((entity_type, entity_id)) != item:
                raise RuntimeError(f"model {live.version} does not number its items densely")
        data = await self._read(
            tenant_id, Vocabulary(), items, after_id=0, up_to=live.last_interaction_id
        )
        config = ensemble.config_from_dict(live.config).sequential
        await low_priority.apart(
            model_worker.restore,
            tenant_id,
            live.version,
            data.log,
            config,
            KEEP_COOCCURRENCE_ENTRIES,
        )
        return Numbering(data.users, data.items, data.last_interaction_id, live.ref)

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
        names = list(types)
        # Position 0 is a type the tenant does not know: it weighs 1.
        type_weights = np.array([1.0] + [types[n].default_weight for n in names], np.float64)
        user_parts, item_parts, weight_parts, time_parts = [], [], [], []
        ignored = 0
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            if up_to is None:
                up_to = await model_store.newest_interaction_id(conn, tenant_id)
            async for batch in model_store.training_batches(
                conn, tenant_id, after_id, up_to, names
            ):
                weights, valid = effective_weights(
                    batch.has_weight, batch.weights, type_weights[batch.kinds], batch.values
                )
                ignored += int(np.count_nonzero(~valid))
                kept = np.flatnonzero(valid & (weights > 0)).tolist()
                user_parts.append(users.indices([batch.users[i] for i in kept]))
                item_parts.append(
                    items.indices([(batch.entity_types[i], batch.entity_ids[i]) for i in kept])
                )
                weight_parts.append(weights[kept].astype(np.float32))
                time_parts.append(batch.times[kept])
                await asyncio.sleep(0)  # requests go first between batches
        if ignored:
            metrics.INTERACTIONS_IGNORED.labels("training").inc(ignored)
            logger.warning(
                "training tenant %s: %d interactions ignored, their weight or value out of range",
                tenant_id,
                ignored,
            )
        # Sorting millions of rows takes seconds: on a thread, not in requests' way.
        log = await low_priority.run(
            InteractionLog.build,
            _joined(user_parts, np.int64),
            _joined(item_parts, np.int64),
            _joined(weight_parts, np.float32),
            _joined(time_parts, np.float64),
            n_users=len(users),
            n_items=len(items),
        )
        return TrainingData(log, users, items, up_to)

    async def read_vectors(
        self, tenant_id: str, data: TrainingData, catalogue: bool = False
    ) -> np.ndarray | None:
        """The stored feature vectors of the log's items (rows of zeros for entities
        without one), or None when none has a vector. Only the items that can get content
        lists are read: every one when the catalogue is within the content model's
        bounds, else the most popular (`content_neighbours`). With ``catalogue`` (and a
        catalogue within the bounds), entities the log lacks join its vocabulary (at
        the end): a build covers the whole catalogue, so an entity nobody has interacted
        with yet can be recommended for its content."""
        items = data.items
        bound = ensemble.EnsembleConfig().content.max_items
        found: list[tuple[int, np.ndarray]] = []
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            if await model_store.count_entity_vectors(conn, tenant_id) <= bound:
                keys = None
            else:
                catalogue = False
                popular = content_neighbours.most_popular(
                    np.arange(data.log.n_items), data.log.item_weights(), bound
                )
                every_key = items.keys
                keys = [every_key[i] for i in popular.tolist()]
            async for row in model_store.entity_vectors(conn, tenant_id, keys):
                key = (row["entity_type"], row["entity_id"])
                index = items.add(key) if catalogue else items.index(key)
                if index is not None:
                    found.append((index, row["feature_vector"].to_numpy()))
        if not found:
            return None
        return await low_priority.run(_stacked, found, len(items), self._dimension)

    async def _write(
        self,
        tenant_id: str,
        ref: ModelRef,
        vocabulary: Vocabulary[tuple[str, str]],
        model: ensemble.EnsembleModel | knn.ItemNeighbours,
        items: Iterable[int],
    ) -> None:
        """Write the lists of ``items`` (numbered by ``vocabulary``): every source's from
        an ensemble (a full build), or new sequential lists whose items keep their other
        lists (an update)."""
        keys = vocabulary.keys
        chosen = list(items)
        full = isinstance(model, ensemble.EnsembleModel)
        async with self._pool.acquire() as conn:
            for start in range(0, len(chosen), _WRITE_CHUNK):
                # Packed on a thread: a chunk is some 100 ms of Python at a million items,
                # which requests would otherwise wait for.
                rows = await low_priority.run(
                    _packed_rows, model, keys, chosen[start : start + _WRITE_CHUNK]
                )
                if full:
                    await model_store.write_items(conn, tenant_id, ref, rows)
                else:
                    await model_store.write_updated_items(conn, tenant_id, ref, rows)


def _packed_rows(
    model: ensemble.EnsembleModel | knn.ItemNeighbours,
    keys: list[tuple[str, str]],
    items: list[int],
) -> list[tuple[Any, ...]]:
    """The rows `_write` stores for ``items``: (item, entity_type, entity_id, popularity,
    *lists), every source's lists from an ensemble, the sequential ones from an update."""
    sequential = model.sequential if isinstance(model, ensemble.EnsembleModel) else model
    rows: list[tuple[Any, ...]] = []
    for item in items:
        lists: list[bytes | None] = list(model_store.pack(*sequential.neighbours_of(item)))
        if isinstance(model, ensemble.EnsembleModel):
            lists += _packed_row(model.long_term, item)
            lists += _packed_content(model.content, item)
        entity_type, entity_id = keys[item]
        rows.append((item, entity_type, entity_id, float(sequential.popularity[item]), *lists))
    return rows


def _packed_row(source: Any, item: int) -> tuple[bytes | None, bytes | None]:
    """Item ``item``'s packed row of a source's matrix, best first; (None, None) without
    one."""
    found = None if source is None else ranking.row_of(source.matrix, item)
    if found is None:
        return None, None
    indices, data = found
    order = np.argsort(-data, kind="stable")
    return model_store.pack(indices[order], data[order])


def _stacked(found: list[tuple[int, np.ndarray]], rows: int, dimension: int) -> np.ndarray:
    """Vectors at their rows of a ``rows`` x ``dimension`` matrix (zeros elsewhere)."""
    vectors = np.zeros((rows, dimension), np.float32)
    for index, vector in found:
        vectors[index] = vector
    return vectors


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def in_key_order(
    data: TrainingData, vectors: np.ndarray | None
) -> tuple[TrainingData, np.ndarray | None]:
    """``data`` (its log covering every item of its vocabulary) and ``vectors`` with the
    items numbered in the order of their keys: the model a build trains then does not
    depend on the order the rows arrived in (`evaluate` on the same data, numbered the
    same way, reproduces it)."""
    items, renumbered = data.items.sorted()
    log = replace(data.log.renumbered(renumbered), n_items=len(items))
    if vectors is not None:
        ordered = np.empty_like(vectors)
        ordered[renumbered] = vectors
        vectors = ordered
    return replace(data, log=log, items=items), vectors


def _packed_content(
    content: content_neighbours.ContentNeighbours | None, item: int
) -> tuple[bytes | None, bytes | None, bytes | None]:
    """Item ``item``'s content neighbours, their scores and their plain cosine
    similarities, packed in the list's order; (None, None, None) without a list."""
    neighbours, scores = _packed_row(content, item)
    similar = None if content is None else ranking.row_of(content.similarity, item)
    if neighbours is None or similar is None:
        return neighbours, scores, None
    indices, data = similar  # the same pairs as the list: align them by neighbour
    by_neighbour = data[np.argsort(indices)]
    rank = np.searchsorted(np.sort(indices), np.frombuffer(neighbours, model_store.ITEM_DTYPE))
    return neighbours, scores, np.asarray(by_neighbour[rank], model_store.SCORE_DTYPE).tobytes()


def starting_config(settings: TenantConfig) -> ensemble.EnsembleConfig:
    """The configuration a tenant's build starts from (and keeps when not tuned): the
    default model with the tenant's pinned sequential settings."""
    config = ensemble.EnsembleConfig()
    if settings.model_settings:
        sequential = knn.config_from_dict(
            {**ensemble.config_dict(config)["sequential"], **settings.model_settings}
        )
        config = replace(config, sequential=sequential)
    return config


def tuning_budget(previous: ModelInfo | None) -> float | None:
    """Twice what the tenant's previous full build took besides its tuning (reading the
    log, fitting, writing the lists); None, no limit beyond the tuning's own sampling,
    before the first."""
    config = previous.config if previous else {}
    seconds = config.get("build_seconds") or config.get("fit_seconds")
    return tuning.budget_for(float(seconds)) if seconds else None
