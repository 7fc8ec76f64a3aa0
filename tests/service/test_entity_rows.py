"""A replica's copy of the entity rows behind model items (service.entity_rows) against a
real database: kept rows answer without the database while the tenant's catalogue
generation holds; an update or a delete moves the generation in the same statement and
the next request reads afresh; a new entity leaves it; a new base drops the old base's
rows and warms the new one's most popular."""

from __future__ import annotations

import asyncio

import numpy as np
import orjson

from recommendation_engine import metrics
from recommendation_engine.service.entity_rows import EntityRowCache
from recommendation_engine.storage import entities, model_store
from recommendation_engine.storage import recommendation_queries as queries
from recommendation_engine.storage.database import create_pool
from recommendation_engine.storage.model_store import ModelRef

NO_VECTOR = np.zeros(512, np.float32)


def reads(result: str) -> float:
    return metrics.ENTITY_ROW_READS.labels(result)._value.get()


def model_row(item: int, popularity: float) -> tuple:
    packed = model_store.pack(np.array([item]), np.array([0.5]))
    return (item, "movie", f"m{item}", popularity, *packed, *(None,) * 5)


async def model(conn: object, items: int) -> ModelRef:
    """A published model whose item n is movie m<n>, less popular as n grows."""
    ref = await model_store.begin(conn, "t1", "ensemble", {})  # type: ignore[arg-type]
    rows = [model_row(n, float(items - n)) for n in range(items)]
    await model_store.write_items(conn, "t1", ref, rows)  # type: ignore[arg-type]
    async with conn.transaction():  # type: ignore[attr-defined]
        await model_store.publish(conn, "t1", ref, 1, items, items, 0)  # type: ignore[arg-type]
    return ref


async def add_movies(conn: object, count: int, kind: str = "movie") -> None:
    for n in range(count):
        await entities.insert(conn, "t1", kind, f"m{n}", {"n": n}, NO_VECTOR)  # type: ignore[arg-type]


def test_rows_are_kept_while_the_catalogue_generation_holds(clean_db: str) -> None:
    async def scenario() -> None:
        pool = await create_pool(clean_db, max_size=2)
        try:
            cache = EntityRowCache(10_000_000)
            async with pool.acquire() as conn:
                await add_movies(conn, 4)
                ref = await model(conn, 4)
                generation = await queries.catalogue_generation(conn, "t1")
                assert generation == 0  # no entity has changed yet

                async def read(items: list[int], entity_type: str | None = None) -> dict:
                    found = await cache.candidates(
                        conn,
                        "t1",
                        ref,
                        items,
                        entity_type,
                        {},
                        await queries.catalogue_generation(conn, "t1"),
                    )
                    return {c.item: (c.entity_id, orjson.dumps(c.attributes)) for c in found}

                first = await cache.candidates(conn, "t1", ref, [0, 1, 2], None, {}, generation)
                assert sorted(c.entity_id for c in first) == ["m0", "m1", "m2"]

                # Changed behind the service's back (no generation move): the kept row
                # still answers, which shows it does not come from the database.
                await conn.execute(
                    "UPDATE entities SET attributes = '{\"n\": 99}' WHERE entity_id = 'm1'"
                )
                hits = reads("hit")
                again = await cache.candidates(conn, "t1", ref, [0, 1, 2], None, {}, generation)
                assert reads("hit") - hits == 3
                assert [orjson.dumps(c.attributes) for c in again if c.item == 1] == [b'{"n": 1}']

                # An update through the service moves the generation with it.
                await entities.update(conn, "t1", "movie", "m1", {"n": 11}, NO_VECTOR)
                assert await queries.catalogue_generation(conn, "t1") == 1
                found = await cache.candidates(conn, "t1", ref, [1], None, {}, 1)
                assert [orjson.dumps(c.attributes) for c in found] == [b'{"n": 11}']

                # A delete too: the entity is gone from the next request's candidates.
                await entities.delete(conn, "t1", "movie", "m2")
                assert await queries.catalogue_generation(conn, "t1") == 2
                found = await cache.candidates(conn, "t1", ref, [0, 1, 2], None, {}, 2)
                assert sorted(c.entity_id for c in found) == ["m0", "m1"]

                # A new entity moves nothing (only existing entities are kept).
                await entities.insert(conn, "t1", "movie", "m2", {"n": 2}, NO_VECTOR)
                assert await queries.catalogue_generation(conn, "t1") == 2
                found = await cache.candidates(conn, "t1", ref, [2], None, {}, 2)
                assert [c.entity_id for c in found] == ["m2"]

                # A bulk write moves it when it replaced an entity, not when it only added.
                async with conn.transaction():
                    added = await entities.upsert_many(conn, "t1", [("movie", "m9", {}, NO_VECTOR)])
                assert added == [("movie", "m9", True)]
                assert await queries.catalogue_generation(conn, "t1") == 2
                async with conn.transaction():
                    await entities.upsert_many(conn, "t1", [("movie", "m0", {"n": 0.5}, NO_VECTOR)])
                assert await queries.catalogue_generation(conn, "t1") == 3
                assert (await read([0]))[0][1] == b'{"n": 0.5}'

                # Kept rows answer the type asked for; filters always go to the database.
                assert sorted(await read([0, 1], "movie")) == [0, 1]
                assert await read([0, 1], "book") == {}
                filtered = await cache.candidates(conn, "t1", ref, [0, 1, 3], None, {"n": "3"}, 3)
                assert [c.entity_id for c in filtered] == ["m3"]
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_a_new_base_drops_the_old_rows_and_warms_the_most_popular(clean_db: str) -> None:
    async def scenario() -> None:
        pool = await create_pool(clean_db, max_size=3)
        try:
            async with pool.acquire() as conn:
                await add_movies(conn, 30)
                first = await model(conn, 30)
            # A budget whose warm share holds about ten rows.
            cache = EntityRowCache(20 * 330, pool)
            async with pool.acquire() as conn:
                await cache.candidates(conn, "t1", first, [29], None, {}, 0)
            await asyncio.gather(*cache._warming)
            misses = reads("miss")
            async with pool.acquire() as conn:
                found = await cache.candidates(conn, "t1", first, [0, 1, 2], None, {}, 0)
            assert len(found) == 3 and reads("miss") == misses  # warmed: the most popular
            held = cache.size
            assert 0 < held <= 20 * 330

            async with pool.acquire() as conn:
                second = await model(conn, 30)
                await cache.candidates(conn, "t1", second, [5], None, {}, 0)
            await asyncio.gather(*cache._warming)
            keys = list(cache._entries)
            assert keys and all(base == second.base for _, base, _ in keys)

            # A request still on the first base reads the database and leaves the new
            # base's rows (and the warm-up) alone.
            async with pool.acquire() as conn:
                found = await cache.candidates(conn, "t1", first, [0, 1], None, {}, 0)
            assert sorted(c.entity_id for c in found) == ["m0", "m1"]
            assert list(cache._entries) == keys and not cache._warming
        finally:
            await pool.close()

    asyncio.run(scenario())
