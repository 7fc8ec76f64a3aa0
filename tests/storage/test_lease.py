"""Leases on a real PostgreSQL: one holder at a time, always given up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from recommendation_engine.storage.database import create_pool
from recommendation_engine.storage.lease import lease


@asynccontextmanager
async def pools(url: str, count: int) -> AsyncIterator[list[asyncpg.Pool]]:
    """``count`` pools on the database, as many processes: the service's own pools, which
    do not reset a connection they take back (advisory locks included)."""
    opened = [await create_pool(url, max_size=3) for _ in range(count)]
    try:
        yield opened
    finally:
        for pool in opened:
            await pool.close()


async def is_free(url: str, key: str) -> bool:
    """Whether a session of its own can take ``key`` now (and gives it back at once)."""
    conn = await asyncpg.connect(url)
    try:
        taken = await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key)
        if taken:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)
        return bool(taken)
    finally:
        await conn.close()


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_of_two_processes_only_one_holds_the_lease(clean_db: str) -> None:
    async def scenario() -> None:
        async with pools(clean_db, 2) as (first, second):
            async with lease(first, "job:a") as held:
                assert held is not None
                assert await held.fetchval("SELECT 1") == 1  # its connection is usable
                async with lease(second, "job:a") as other:
                    assert other is None
                async with lease(first, "job:a") as same_pool:
                    assert same_pool is None  # another connection: another session
                async with lease(second, "job:b") as other_key:
                    assert other_key is not None
            async with lease(second, "job:a") as later:
                assert later is not None  # given up when the first block ended

    run(scenario)


def test_concurrent_holders_do_the_job_once(clean_db: str) -> None:
    done: list[int] = []

    async def scenario() -> None:
        async with pools(clean_db, 3) as opened:
            started = asyncio.Event()

            async def job(n: int, pool: asyncpg.Pool) -> None:
                async with lease(pool, "job:once") as held:
                    if held is None:
                        return
                    started.set()
                    await asyncio.sleep(0.3)
                    done.append(n)

            await asyncio.gather(*(job(n, pool) for n, pool in enumerate(opened)))
            assert started.is_set()

    run(scenario)
    assert len(done) == 1


def test_an_old_style_lock_on_the_same_key_is_respected(clean_db: str) -> None:
    """The key is the one `pg_try_advisory_lock(hashtext(key))` always took, so a process
    of an earlier release and this one never do the job together."""

    async def scenario() -> None:
        conn = await asyncpg.connect(clean_db)
        try:
            await conn.fetchval("SELECT pg_advisory_lock(hashtext('model:t1'))")
            async with pools(clean_db, 1) as (pool,), lease(pool, "model:t1") as held:
                assert held is None
        finally:
            await conn.close()

    run(scenario)


def test_the_lease_is_given_up_after_an_error(clean_db: str) -> None:
    async def scenario() -> None:
        async with pools(clean_db, 1) as (pool,):
            with pytest.raises(RuntimeError):
                async with lease(pool, "job:fails") as held:
                    assert held is not None
                    raise RuntimeError("the job failed")
            assert await is_free(clean_db, "job:fails")
            async with lease(pool, "job:fails") as again:
                assert again is not None

    run(scenario)


def test_the_lease_is_given_up_after_a_failed_query(clean_db: str) -> None:
    async def scenario() -> None:
        async with pools(clean_db, 1) as (pool,):
            with pytest.raises(asyncpg.DivisionByZeroError):
                async with lease(pool, "job:bad-sql") as held:
                    assert held is not None
                    async with held.transaction():
                        await held.fetchval("SELECT 1 / 0")
            assert await is_free(clean_db, "job:bad-sql")

    run(scenario)


@pytest.mark.parametrize("waiting_on", ["a query", "something else"])
def test_the_lease_is_given_up_when_the_job_is_cancelled(clean_db: str, waiting_on: str) -> None:
    async def scenario() -> None:
        async with pools(clean_db, 1) as (pool,):
            holding = asyncio.Event()

            async def job() -> None:
                async with lease(pool, "job:cancelled") as held:
                    assert held is not None
                    holding.set()
                    if waiting_on == "a query":
                        await held.execute("SELECT pg_sleep(30)")
                    else:
                        await asyncio.sleep(30)

            task = asyncio.create_task(job())
            await asyncio.wait_for(holding.wait(), 10)
            assert not await is_free(clean_db, "job:cancelled")
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert time.monotonic() - started < 5
            assert await is_free(clean_db, "job:cancelled")
            # The pool's connections are all usable after it.
            async with pool.acquire() as conn:
                assert await conn.fetchval("SELECT 1") == 1

    run(scenario)


def test_the_lease_is_given_up_when_cancelled_again_while_giving_it_up(clean_db: str) -> None:
    async def scenario() -> None:
        async with pools(clean_db, 1) as (pool,):
            holding = asyncio.Event()

            async def job() -> None:
                async with lease(pool, "job:twice") as held:
                    assert held is not None
                    holding.set()
                    await held.execute("SELECT pg_sleep(30)")

            task = asyncio.create_task(job())
            await asyncio.wait_for(holding.wait(), 10)
            await asyncio.sleep(0.1)
            task.cancel()
            await asyncio.sleep(0)  # into the unlock...
            await asyncio.sleep(0)
            task.cancel()  # ...and cancelled there too
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.2)  # a closed session's locks go with its backend
            assert await is_free(clean_db, "job:twice")
            async with pool.acquire() as conn:
                assert await conn.fetchval("SELECT 1") == 1

    run(scenario)


def test_a_lease_whose_connection_is_lost_ends_with_it(
    clean_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with pools(clean_db, 1) as (pool,):
            killer = await asyncpg.connect(clean_db)
            try:
                async with lease(pool, "job:lost") as held:
                    assert held is not None
                    pid = held.get_server_pid()
                    await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
                    await asyncio.sleep(0.2)
                # The job itself succeeded: giving up the lease is no error of its own.
            finally:
                await killer.close()
            assert await is_free(clean_db, "job:lost")
            async with pool.acquire() as conn:
                assert await conn.fetchval("SELECT 1") == 1

    run(scenario)
    assert "given up by closing its connection" in caplog.text


def test_a_skipped_lease_holds_nothing(clean_db: str) -> None:
    async def scenario() -> None:
        async with pools(clean_db, 2) as (first, second), lease(first, "job:busy") as held:
            assert held is not None
            for _ in range(5):  # more tries than the pool has connections
                async with lease(second, "job:busy") as skipped:
                    assert skipped is None
            assert second.get_idle_size() == second.get_size()

    run(scenario)
