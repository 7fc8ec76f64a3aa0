"""The per-replica TTL cache: expiry, one shared load per key, invalidation."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from recommendation_engine.service.ttl_cache import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


class Source:
    """A loader that counts its reads and, when ``gate`` is given, waits on it."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.reads = 0
        self.value = "v1"
        self.gate = gate
        self.fail: Exception | None = None

    async def __call__(self) -> str:
        self.reads += 1
        value = self.value  # what the database held when the read began
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return value


def test_a_value_expires_after_its_ttl() -> None:
    clock = Clock()
    cache: TTLCache[str, int] = TTLCache(5.0, timer=clock)
    cache.put("a", 1)
    clock.now += 4.9
    assert cache.get("a") == 1 and "a" in cache
    clock.now += 0.2
    assert cache.get("a") is None and "a" not in cache
    assert cache.get("a", -1) == -1


def test_get_or_load_reads_once_per_ttl() -> None:
    clock = Clock()
    cache: TTLCache[str, str] = TTLCache(1.0, timer=clock)
    source = Source()

    async def scenario() -> None:
        assert await cache.get_or_load("t1", source) == "v1"
        source.value = "v2"
        clock.now += 0.5
        assert await cache.get_or_load("t1", source) == "v1"  # trusted for its TTL
        assert source.reads == 1
        clock.now += 0.6
        assert await cache.get_or_load("t1", source) == "v2"  # then read again
        assert source.reads == 2

    run(scenario)


def test_none_is_a_value_like_any_other() -> None:
    cache: TTLCache[str, str | None] = TTLCache(60.0)
    reads = 0

    async def nothing() -> None:
        nonlocal reads
        reads += 1

    async def scenario() -> None:
        assert await cache.get_or_load("unknown", nothing) is None
        assert await cache.get_or_load("unknown", nothing) is None
        assert "unknown" in cache

    run(scenario)
    assert reads == 1


def test_concurrent_callers_share_one_load() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        source = Source(gate)
        cache: TTLCache[str, str] = TTLCache(60.0)
        callers = [asyncio.create_task(cache.get_or_load("t1", source)) for _ in range(20)]
        other = asyncio.create_task(cache.get_or_load("t2", Source()))  # its own load
        assert await other == "v1"
        await asyncio.sleep(0.01)
        assert not any(c.done() for c in callers)
        gate.set()
        assert await asyncio.gather(*callers) == ["v1"] * 20
        assert source.reads == 1

    run(scenario)


def test_pop_forces_a_reload() -> None:
    cache: TTLCache[str, str] = TTLCache(60.0)
    source = Source()

    async def scenario() -> None:
        assert await cache.get_or_load("t1", source) == "v1"
        source.value = "v2"  # a write...
        cache.pop("t1")  # ...forgets the replica's copy
        assert await cache.get_or_load("t1", source) == "v2"
        cache.pop("never-kept")  # nothing to forget: no error

    run(scenario)
    assert source.reads == 2


def test_a_load_begun_before_a_pop_does_not_keep_its_answer() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        source = Source(gate)
        cache: TTLCache[str, str] = TTLCache(60.0)
        early = asyncio.create_task(cache.get_or_load("t1", source))
        await asyncio.sleep(0.01)  # reading "v1"
        source.value = "v2"
        cache.pop("t1")
        late = asyncio.create_task(cache.get_or_load("t1", source))  # starts a new read
        await asyncio.sleep(0.01)
        gate.set()
        assert await early == "v1"  # asked before the write: may see the old value
        assert await late == "v2"
        assert cache.get("t1") == "v2"  # the old answer was not kept
        assert source.reads == 2

    run(scenario)


def test_put_during_a_load_wins() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        cache: TTLCache[str, str] = TTLCache(60.0)
        loading = asyncio.create_task(cache.get_or_load("t1", Source(gate)))
        await asyncio.sleep(0.01)
        cache.put("t1", "written")
        gate.set()
        assert await loading == "v1"
        assert cache.get("t1") == "written"

    run(scenario)


def test_a_failed_load_reaches_every_waiter_and_keeps_nothing() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        source = Source(gate)
        source.fail = ConnectionError("database away")
        cache: TTLCache[str, str] = TTLCache(60.0)
        callers = [asyncio.create_task(cache.get_or_load("t1", source)) for _ in range(3)]
        await asyncio.sleep(0.01)
        gate.set()
        results = await asyncio.gather(*callers, return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results)
        assert "t1" not in cache
        source.fail = None
        assert await cache.get_or_load("t1", source) == "v1"  # tried again
        assert source.reads == 2

    run(scenario)


def test_a_cancelled_loader_hands_the_load_to_a_waiter() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        source = Source(gate)
        cache: TTLCache[str, str] = TTLCache(60.0)
        first = asyncio.create_task(cache.get_or_load("t1", source))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(cache.get_or_load("t1", source))
        await asyncio.sleep(0.01)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        gate.set()
        assert await second == "v1"  # loaded itself
        assert source.reads == 2
        assert cache.get("t1") == "v1"

    run(scenario)


def test_a_cancelled_waiter_leaves_the_load_to_the_others() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        source = Source(gate)
        cache: TTLCache[str, str] = TTLCache(60.0)
        loader = asyncio.create_task(cache.get_or_load("t1", source))
        await asyncio.sleep(0.01)
        waiters = [asyncio.create_task(cache.get_or_load("t1", source)) for _ in range(2)]
        await asyncio.sleep(0.01)
        waiters[0].cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiters[0]
        gate.set()
        assert await loader == "v1" and await waiters[1] == "v1"
        assert source.reads == 1

    run(scenario)


def test_no_unseen_errors_are_reported_when_nobody_waited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache: TTLCache[str, str] = TTLCache(60.0)

    async def failing() -> str:
        raise ValueError("bad row")

    async def scenario() -> None:
        with pytest.raises(ValueError):
            await cache.get_or_load("t1", failing)
        gc.collect()

    run(scenario)
    assert "never retrieved" not in caplog.text


def test_it_holds_at_most_max_entries() -> None:
    cache: TTLCache[int, int] = TTLCache(60.0, max_entries=3)
    for n in range(5):
        cache.put(n, n)
    assert len(cache) == 3
    assert [cache.get(n) for n in range(5)] == [None, None, 2, 3, 4]
    cache.clear()
    assert len(cache) == 0
