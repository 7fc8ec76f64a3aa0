"""The entity rows behind model items, kept per replica (bounded by bytes, least
recently used first out).

Every recommendation request turns the model items it ranked into entities: their
type, id and attributes, and whether they still exist. Those rows change far less often
than they are read, so each replica keeps the ones it has read, keyed by the tenant, the
model base (item numbers belong to a base) and the item.

The database stays the source of truth. Updating or deleting an entity moves its
tenant's catalogue generation on in the same statement (storage.entities), and every
request reads the generation in its first query. A kept row is used only by a request
that read the same generation as the request that stored it, so a change committed
before a request starts is always seen, on every replica. Only existing entities are
kept: an item whose entity is gone is looked up again (until the next build drops it).

When a replica first sees a model base (it started, or a full rebuild was published), it
reads the rows of the base's most popular items in the background, in pages, until they
fill `WARM_SHARE` of the budget, and drops the tenant's rows of the previous base. A
request still on the previous base meanwhile reads from the database.

Requests with attribute filters read from the database: the filters are SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import asyncpg
import orjson

from recommendation_engine import metrics
from recommendation_engine.service.background import BackgroundTasks
from recommendation_engine.service.byte_lru import ByteLRU
from recommendation_engine.storage import model_store
from recommendation_engine.storage import recommendation_queries as queries
from recommendation_engine.storage.model_store import ModelRef
from recommendation_engine.storage.recommendation_queries import Candidate

logger = logging.getLogger(__name__)

Key = tuple[str, int, int]  # tenant, base, item
Entry = tuple[int, str, str, str]  # catalogue generation, entity type, id, attributes
# What an entry costs besides its strings (the key, the tuple, the cache's links).
_ENTRY_OVERHEAD = 300
_HITS, _MISSES = (metrics.ENTITY_ROW_READS.labels(result) for result in ("hit", "miss"))
# The share of the budget a warm-up fills, and the items it reads at a time.
WARM_SHARE = 0.5
WARM_PAGE = 5_000


def _size(entry: Entry) -> int:
    return _ENTRY_OVERHEAD + len(entry[1]) + len(entry[2]) + len(entry[3])


class EntityRowCache:
    def __init__(self, max_bytes: int, pool: asyncpg.Pool | None = None) -> None:
        self._entries: ByteLRU[Key, Entry] = ByteLRU(max_bytes, _size)
        self._max_bytes = max_bytes
        self.enabled = max_bytes > 0
        self._bases: dict[str, int] = {}  # tenant -> the model base last seen
        self._pool = pool  # for the warm-up (none: no warm-up)
        self._warming = BackgroundTasks()

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._entries.bytes

    async def candidates(
        self,
        conn: asyncpg.Connection,
        tenant_id: str,
        model: ModelRef,
        items: Sequence[int],
        entity_type: str | None,
        filters: dict[str, str],
        catalogue: int | None,
    ) -> list[Candidate]:
        """The existing entities behind model ``items`` with the requested type and
        attribute values (`queries.candidates` without a profile), for a request that
        read the tenant's catalogue generation ``catalogue`` (None: not read)."""
        known = self._bases.get(tenant_id)
        # Bases are numbered in build order: a lower one is the base this replica served
        # before, which a request that started then may still be on.
        if filters or catalogue is None or not self.enabled or model.base < (known or 0):
            return await queries.candidates(
                conn, tenant_id, model, items, None, entity_type, filters
            )
        if model.base != known:
            self._new_base(tenant_id, model)
        found: list[Candidate] = []
        missing: list[int] = []
        entries = self._entries
        get, base = entries.get, model.base
        for item in items:
            entry = get((tenant_id, base, item))
            if entry is None or entry[0] != catalogue:
                missing.append(item)
            elif entity_type is None or entry[1] == entity_type:
                found.append(Candidate(item, entry[1], entry[2], None, orjson.Fragment(entry[3])))
        _HITS.inc(len(items) - len(missing))
        if missing:
            _MISSES.inc(len(missing))
            for item, kind, entity_id, attributes in await queries.entity_rows(
                conn, tenant_id, model, missing
            ):
                entries[(tenant_id, model.base, item)] = (catalogue, kind, entity_id, attributes)
                if entity_type is None or kind == entity_type:
                    found.append(
                        Candidate(item, kind, entity_id, None, orjson.Fragment(attributes))
                    )
            metrics.ENTITY_ROW_BYTES.set(self.size)
        return found

    def _new_base(self, tenant_id: str, model: ModelRef) -> None:
        """Drop the tenant's rows of the base it served before (the item numbers of a
        new base differ) and start reading the new base's most popular ones."""
        previous = self._bases.get(tenant_id)
        self._bases[tenant_id] = model.base
        if previous is not None:
            self._entries.drop_where(lambda k: k[0] == tenant_id and k[1] == previous)
        if self._pool is not None:
            self._warming.start(self._warm(tenant_id, model), f"warm-rows-{tenant_id}")

    async def _warm(self, tenant_id: str, model: ModelRef) -> None:
        """Read the rows of the base's most popular items while it is still the one
        served and the budget's warm share is not full."""
        assert self._pool is not None
        offset, share = 0, WARM_SHARE * self._max_bytes
        try:
            while self.size < share:
                async with self._pool.acquire() as conn:
                    items = await model_store.popular_items(
                        conn, tenant_id, model, WARM_PAGE, offset
                    )
                    if not items:
                        return
                    # The generation first: the rows read after it are at least as new.
                    catalogue = await queries.catalogue_generation(conn, tenant_id)
                    rows = {
                        row[0]: row
                        for row in await queries.entity_rows(conn, tenant_id, model, items)
                    }
                offset += len(items)
                if self._bases.get(tenant_id) != model.base:
                    return  # a newer base is served now
                for item in items:  # most popular first, until the share is full
                    key = (tenant_id, model.base, item)
                    if item in rows and key not in self._entries and self.size < share:
                        self._entries[key] = (catalogue, *rows[item][1:])
                metrics.ENTITY_ROW_BYTES.set(self.size)
        except Exception:  # a warm-up is an optimisation: requests read what it missed
            logger.warning("warming the entity rows of tenant %s failed", tenant_id, exc_info=True)

    async def stop(self) -> None:
        await self._warming.stop()
