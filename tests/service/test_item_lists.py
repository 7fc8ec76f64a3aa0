"""A replica's copy of model lists (service.item_lists) against a real database: a new
version of the same base drops exactly the lists it rewrote, a new base drops the old
base's, and a request on an older version neither uses nor fills the copy."""

from __future__ import annotations

import asyncio

import numpy as np
from prometheus_client import REGISTRY

from recommendation_engine.service.item_lists import ItemListCache
from recommendation_engine.storage import model_store
from recommendation_engine.storage.database import create_pool
from recommendation_engine.storage.model_store import ModelInfo, ModelRef


def row(item: int, neighbour: int) -> tuple:
    packed = model_store.pack(np.array([neighbour]), np.array([0.5]))
    similarities = np.array([0.9], "<f4").tobytes()
    return (item, "movie", f"m{item}", 1.0, *packed, None, None, *packed, similarities)


async def publish(conn: object, ref: ModelRef) -> ModelInfo:
    async with conn.transaction():  # type: ignore[attr-defined]
        await model_store.publish(conn, "t1", ref, 1, 3, 3, 0)  # type: ignore[arg-type]
    info = await model_store.live(conn, "t1")  # type: ignore[arg-type]
    assert info is not None
    return info


def reads_so_far() -> np.ndarray:
    """item_list_reads_total: (hit, miss)."""
    return np.array(
        [
            REGISTRY.get_sample_value("item_list_reads_total", {"result": r}) or 0
            for r in ("hit", "miss")
        ]
    )


def test_new_versions_drop_what_they_rewrote(clean_db: str) -> None:
    async def scenario() -> None:
        pool = await create_pool(clean_db, max_size=2)
        try:
            cache = ItemListCache(10_000_000)
            async with pool.acquire() as conn:
                base = await model_store.begin(conn, "t1", "ensemble", {})
                await model_store.write_items(conn, "t1", base, [row(i, i + 1) for i in range(3)])
                first = await publish(conn, base)
                reads = reads_so_far()
                lists = await cache.lists(conn, "t1", first, [0, 1, 2])
                assert lists[0].sequential[0].tolist() == [1]
                await cache.lists(conn, "t1", first, [0, 2])
                assert (reads_so_far() - reads).tolist() == [2, 3]  # (found in memory, read)
                assert lists[0].long_term is None and lists[0].content[0].tolist() == [1]
                held = cache.size
                assert held > 0

                # An update rewrites item 1: its list is read again, the others kept.
                update = await model_store.begin(conn, "t1", "ensemble", {}, base=first)
                await model_store.write_items(conn, "t1", update, [row(1, 9)])
                second = await publish(conn, update)
                lists = await cache.lists(conn, "t1", second, [0, 1])
                assert lists[1].sequential[0].tolist() == [9]
                assert lists[0].sequential[0].tolist() == [1]

                # A request still on the first version reads it from the database and
                # leaves the copy as the second version has it.
                stale = await cache.lists(conn, "t1", first, [1])
                assert stale[1].sequential[0].tolist() == [2]  # the first version's row
                again = await cache.lists(conn, "t1", second, [1])
                assert again[1].sequential[0].tolist() == [9]

                # A full rebuild: a new base, whose lists replace the old base's.
                rebuilt = await model_store.begin(conn, "t1", "ensemble", {})
                await model_store.write_items(conn, "t1", rebuilt, [row(i, 0) for i in range(3)])
                third = await publish(conn, rebuilt)
                lists = await cache.lists(conn, "t1", third, [0, 1, 2])
                assert [lists[i].sequential[0].tolist() for i in range(3)] == [[0]] * 3
                assert cache.size <= held  # the old base's entries are gone
                assert (await cache.lists(conn, "t1", third, [7]))[7].sequential is None
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_a_new_base_warms_the_lists_of_its_most_popular_items(clean_db: str) -> None:
    async def scenario() -> None:
        pool = await create_pool(clean_db, max_size=3)
        try:
            cache = ItemListCache(10_000_000, pool)
            async with pool.acquire() as conn:
                base = await model_store.begin(conn, "t1", "ensemble", {})
                await model_store.write_items(conn, "t1", base, [row(i, 0) for i in range(50)])
                model = await publish(conn, base)
                await cache.lists(conn, "t1", model, [0])
            for _ in range(100):  # the warm-up runs in the background
                if cache.size > 40 * 400:
                    break
                await asyncio.sleep(0.05)
            held = cache.size
            assert held > 40 * 400  # every item's lists, not just the one asked for
            async with pool.acquire() as conn:
                await conn.execute("DELETE FROM model_items WHERE tenant_id = 't1'")
                # found in memory: the rows are gone from the database
                found = await cache.lists(conn, "t1", model, list(range(50)))
            assert all(found[i].sequential is not None for i in range(50))
            await cache.stop()
        finally:
            await pool.close()

    asyncio.run(scenario())
