"""The lists of model items, kept per replica (bounded by bytes, least recently used
first out).

A personalised list sums the lists of the user's recent items (`engine.ranking`):
reading each one from the database on every request moves hundreds of kilobytes. Items
recur across requests, so each replica keeps the lists it read, keyed by the tenant, the
model base and the item. The database stays the source of truth:

* when a request sees a newer version of the same base (an incremental update), the
  items that version rewrote are looked up once and dropped, so none is served stale;
* a new base (a full rebuild) drops the tenant's entries of the old one;
* a request still on an older version than the replica has seen (for the second the live
  version is remembered, `live_models`) reads from the database and stores nothing.

When a replica first sees a base (it started, or a full rebuild was published), it reads
the lists of the base's most popular items in the background, in pages, until they fill
`WARM_SHARE` of the budget: the requests that follow find most of what they need.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import asyncpg
import numpy as np

from recommendation_engine import metrics
from recommendation_engine.engine.ranking import NO_LISTS, ItemLists, Joined, source_bounds
from recommendation_engine.service.background import BackgroundTasks
from recommendation_engine.service.byte_lru import ByteLRU
from recommendation_engine.storage import model_store
from recommendation_engine.storage.model_store import ModelInfo

logger = logging.getLogger(__name__)

Key = tuple[str, int, int]  # tenant, base, item
_HITS, _MISSES = (metrics.ITEM_LIST_READS.labels(result) for result in ("hit", "miss"))
# The share of the budget the warm-up fills, and the items it reads at a time.
WARM_SHARE = 0.5
WARM_PAGE = 2_000
# What an entry costs besides its arrays (the objects holding them).
_ENTRY_OVERHEAD = 400
_ITEM_BYTES = model_store.ITEM_DTYPE.itemsize


def _size(lists: ItemLists) -> int:
    total = _ENTRY_OVERHEAD
    for source in (lists.sequential, lists.long_term, lists.content):
        if source is not None:
            total += source[0].nbytes + source[1].nbytes
    if lists.content_similarity is not None:
        total += lists.content_similarity.nbytes
    return total


def unpacked(packed: model_store.PackedLists) -> ItemLists:
    """Stored lists as arrays laid end to end (`ItemLists.of_joined`): the stored bytes
    are joined first, so each array is made once (`model_store.pack` writes them)."""
    neighbours, scores, long_neighbours, long_scores, near, near_scores, similar = packed
    parts = (
        (neighbours, scores),
        (long_neighbours, long_scores or b"") if long_neighbours else None,
        (near, near_scores or b"") if near else None,
    )
    present = [part for part in parts if part is not None]
    joined = Joined(
        np.frombuffer(b"".join(part[0] for part in present), model_store.ITEM_DTYPE),
        np.frombuffer(b"".join(part[1] for part in present), model_store.SCORE_DTYPE),
        source_bounds([0 if part is None else len(part[0]) // _ITEM_BYTES for part in parts]),
    )
    return ItemLists.of_joined(
        joined,
        tuple(part is not None for part in parts),
        np.frombuffer(similar, model_store.SCORE_DTYPE) if near and similar else None,
    )


class ItemListCache:
    def __init__(self, max_bytes: int, pool: asyncpg.Pool | None = None) -> None:
        self._entries: ByteLRU[Key, ItemLists] = ByteLRU(max_bytes, _size)
        self._max_bytes = max_bytes
        self._versions: dict[str, tuple[int, int]] = {}  # tenant -> (base, version) seen
        self._locks: dict[str, asyncio.Lock] = {}
        self._pool = pool  # for the warm-up (none: no warm-up)
        self._warming = BackgroundTasks()

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._entries.bytes

    async def lists(
        self, conn: asyncpg.Connection, tenant_id: str, model: ModelInfo, items: Iterable[int]
    ) -> dict[int, ItemLists]:
        """The lists of ``items`` in ``model`` (`NO_LISTS` for an item it lacks)."""
        wanted = set(items)
        if not wanted:
            return {}
        current = await self._sync(conn, tenant_id, model)
        found: dict[int, ItemLists] = {}
        missing = []
        get, base = self._entries.get, model.base_version
        for item in wanted:
            entry = get((tenant_id, base, item)) if current else None
            if entry is None:
                missing.append(item)
            else:
                found[item] = entry
        _HITS.inc(len(found))
        if missing:
            _MISSES.inc(len(missing))
            read = await model_store.item_lists(conn, tenant_id, model.ref, missing)
            # Still the version this replica serves (another request may have moved on).
            keep = current and self._versions.get(tenant_id) == (model.base_version, model.version)
            for item in missing:
                lists = unpacked(read[item]) if item in read else NO_LISTS
                found[item] = lists
                if keep:
                    self._entries[(tenant_id, model.base_version, item)] = lists
            metrics.ITEM_LIST_BYTES.set(self.size)
        return found

    async def _sync(self, conn: asyncpg.Connection, tenant_id: str, model: ModelInfo) -> bool:
        """Bring the tenant's entries to ``model``'s version; False when the request is on
        an older version than this replica has seen (it must not use or fill the cache)."""
        wanted = (model.base_version, model.version)
        seen = self._versions.get(tenant_id)
        if seen == wanted:
            return True
        lock = self._locks.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            seen = self._versions.get(tenant_id)
            if seen == wanted:
                return True
            if seen is not None and model.version < seen[1]:
                return False
            if seen is not None and seen[0] == model.base_version:
                changed = await model_store.changed_items(
                    conn, tenant_id, model.base_version, seen[1], model.version
                )
                for item in changed:
                    self._entries.pop((tenant_id, model.base_version, item))
            else:
                if seen is not None:
                    old = seen[0]
                    self._entries.drop_where(lambda k: k[0] == tenant_id and k[1] == old)
                self._start_warming(tenant_id, model)
            self._versions[tenant_id] = wanted
            return True

    def _start_warming(self, tenant_id: str, model: ModelInfo) -> None:
        if self._pool is None or self._max_bytes <= 0:
            return
        metrics.ITEM_LIST_WARMING.inc()
        self._warming.start(self._warm(tenant_id, model), f"warm-lists-{tenant_id}", self._warmed)

    def _warmed(self, task: asyncio.Task[None]) -> None:
        metrics.ITEM_LIST_WARMING.dec()
        metrics.ITEM_LIST_BYTES.set(self.size)

    async def _warm(self, tenant_id: str, model: ModelInfo) -> None:
        """Read the lists of the base's most popular items while it is still the one
        served and the budget's warm share is not full."""
        assert self._pool is not None
        base, offset = model.base_version, 0
        try:
            while self.size < WARM_SHARE * self._max_bytes:
                async with self._pool.acquire() as conn:
                    items = await model_store.popular_items(
                        conn, tenant_id, model.ref, WARM_PAGE, offset
                    )
                    if not items:
                        return
                    read = await model_store.item_lists(conn, tenant_id, model.ref, items)
                offset += len(items)
                if self._versions.get(tenant_id) != (base, model.version):
                    return  # a newer version is served now: requests read its lists
                for item, packed in read.items():
                    key = (tenant_id, base, item)
                    if key not in self._entries:
                        self._entries[key] = unpacked(packed)
        except Exception:  # a warm-up is an optimisation: requests read what it missed
            logger.warning("warming the lists of tenant %s failed", tenant_id, exc_info=True)

    async def stop(self) -> None:
        await self._warming.stop()
