"""The response cache: memory and Redis layers, shared by replicas, invalidated on all."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis

from recommendation_engine.config import LimitSettings, RedisSettings, TenancySettings
from recommendation_engine.storage.cache import _BoundedTTLCache
from tests.api.test_recommendations import GENRES, HISTORIES, ids, rebuild, record
from tests.support import API_KEY, RedisServer, answer, client, make_entity, make_settings, serve

USER = "/api/v1/recommendations/user"
SIMILAR = "/api/v1/recommendations/entity"


def settings(database_url: str, redis_url: str | None, **tenancy: bool):
    return make_settings(
        database_url,
        redis=RedisSettings(url=redis_url),
        limits=LimitSettings(
            max_bulk_items=1000, recommendation_cache_ttl_secs=60, rate_limit_enabled=False
        ),
        tenancy=TenancySettings(**tenancy),
    )


def fill(api: httpx.Client) -> None:
    for n in range(10):
        make_entity(api, f"m{n}", "movie", genre=GENRES[n % 2], decade="1990s")
    for user, items in HISTORIES.items():
        for item in items:
            record(api, user, item)
    rebuild(api)


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


@pytest.fixture
def replicas(clean_db: str, redis_server: RedisServer) -> Iterator[tuple[httpx.Client, ...]]:
    """Two app instances on one database and one Redis, the catalogue loaded."""
    redis.Redis.from_url(redis_server.url).flushall()
    config = settings(clean_db, redis_server.url)
    with (
        serve(config) as first,
        serve(config) as second,
        client(first) as a,
        client(second) as b,
    ):
        fill(a)
        yield a, b


def test_answers_come_from_memory_then_redis_on_another_replica(replicas: tuple) -> None:
    a, b = replicas
    first = a.get(f"{USER}/u0")
    assert first.headers["x-cache"] == "computed"
    again = a.get(f"{USER}/u0")
    assert again.headers["x-cache"] == "memory" and answer(again) == answer(first)
    elsewhere = b.get(f"{USER}/u0")
    assert elsewhere.headers["x-cache"] == "redis" and answer(elsewhere) == answer(first)
    assert b.get(f"{USER}/u0").headers["x-cache"] == "memory"
    # Every parameter is part of the key.
    assert a.get(f"{USER}/u0", params={"count": 3}).headers["x-cache"] == "computed"
    assert a.get(f"{USER}/u0", params={"filter.genre": "comedy"}).headers["x-cache"] == "computed"
    assert a.get(f"{SIMILAR}/m3").headers["x-cache"] == "computed"
    assert b.get(f"{SIMILAR}/m3").headers["x-cache"] == "redis"
    assert a.get("/api/v1/recommendations/trending").headers["x-cache"] == "computed"
    assert b.get("/api/v1/recommendations/trending").headers["x-cache"] == "redis"


def test_a_new_interaction_invalidates_the_user_on_every_replica(replicas: tuple) -> None:
    a, b = replicas
    top = ids(a.get(f"{USER}/u0").json())[0]
    assert b.get(f"{USER}/u0").headers["x-cache"] == "redis"
    other = a.get(f"{USER}/u1")
    record(b, "u0", top)  # on the second replica
    # Read-your-writes where the write was taken, and at once on the other replica.
    mine = b.get(f"{USER}/u0")
    assert mine.headers["x-cache"] == "computed" and top not in ids(mine.json())

    def first_replica_forgot() -> bool:
        response = a.get(f"{USER}/u0")
        return response.headers["x-cache"] != "memory" and top not in ids(response.json())

    eventually(first_replica_forgot)
    # Only that user was invalidated.
    assert answer(a.get(f"{USER}/u1")) == answer(other)
    assert a.get(f"{USER}/u1").headers["x-cache"] == "memory"


def test_an_entity_update_invalidates_the_tenants_answers(replicas: tuple) -> None:
    a, b = replicas
    similar = a.get(f"{SIMILAR}/m3").json()
    shown = ids(similar)[0]
    assert b.get(f"{SIMILAR}/m3").headers["x-cache"] == "redis"
    changed = a.put(
        f"/api/v1/entities/{shown}",
        params={"entity_type": "movie"},
        json={"attributes": {"genre": "drama", "decade": "2020s"}},
    )
    assert changed.status_code == 200, changed.text

    def shows_new_attributes(replica: httpx.Client) -> bool:
        found = replica.get(f"{SIMILAR}/m3").json()["recommendations"]
        return any(r["entity_id"] == shown and r["attributes"]["decade"] == "2020s" for r in found)

    assert shows_new_attributes(a)
    eventually(lambda: shows_new_attributes(b))


def test_recomputed_trending_lists_replace_cached_ones(replicas: tuple) -> None:
    a, b = replicas
    trending = "/api/v1/recommendations/trending"
    before = a.get(trending).json()["trending"]
    assert b.get(trending).headers["x-cache"] == "redis"
    for user in ("fan1", "fan2", "fan3", "fan4", "fan5"):  # m9 becomes the hottest
        for _ in range(3):
            record(a, user, "m9", "purchase")
    assert a.get(trending).json()["trending"] == before  # still the cached lists
    rebuild(a)  # recomputes the trending lists, as the hourly refresh does when due

    def shows_the_new_lists(replica: httpx.Client) -> bool:
        found = replica.get(trending)
        return (
            found.headers["x-cache"] != "memory"
            and found.json()["trending"][0]["entity_id"] == "m9"
        )

    assert shows_the_new_lists(a)
    eventually(lambda: shows_the_new_lists(b))


def test_the_service_keeps_answering_without_redis_and_recovers(
    replicas: tuple, redis_server: RedisServer
) -> None:
    a, b = replicas
    assert a.get(f"{USER}/u2").headers["x-cache"] == "computed"
    redis_server.stop()
    try:
        # Uncached but answered; writes are still taken and still invalidate.
        assert b.get(f"{USER}/u2").headers["x-cache"] == "computed"
        assert b.get(f"{USER}/u3").status_code == 200
        record(b, "u3", "m0")
        assert b.get(f"{USER}/u3").headers["x-cache"] == "computed"
        assert b.get(f"{USER}/u3").headers["x-cache"] == "memory"
    finally:
        redis_server.start()
    counts = iter(range(1, 100))

    def shared_again() -> bool:
        params = {"count": next(counts)}  # a new key each try
        if a.get(f"{USER}/u4", params=params).headers["x-cache"] != "computed":
            return False
        return b.get(f"{USER}/u4", params=params).headers["x-cache"] == "redis"

    eventually(shared_again, seconds=15)


def test_concurrent_requests_wait_for_a_redis_connection(
    clean_db: str, redis_server: RedisServer
) -> None:
    redis.Redis.from_url(redis_server.url).flushall()
    filler = settings(clean_db, redis_server.url)
    narrow = make_settings(
        clean_db,
        redis=RedisSettings(url=redis_server.url, pool_size=1),
        limits=LimitSettings(
            max_bulk_items=1000,
            recommendation_cache_ttl_secs=60,
            recommendation_cache_max_entries=1,  # answers must come from Redis
            rate_limit_enabled=False,
        ),
    )
    with serve(filler) as first, serve(narrow) as second, client(first) as a:
        fill(a)
        counts = range(1, 13)
        for count in counts:
            assert a.get(f"{USER}/u5", params={"count": count}).headers["x-cache"] == "computed"

        async def ask_all() -> list[str]:
            async with httpx.AsyncClient(
                base_url=second, headers={"X-API-Key": API_KEY}, timeout=30
            ) as b:
                answers = await asyncio.gather(
                    *(b.get(f"{USER}/u5", params={"count": count}) for count in counts)
                )
            return [answer.headers["x-cache"] for answer in answers]

        assert asyncio.run(ask_all()) == ["redis"] * len(counts)


def test_tenants_never_share_cached_answers(clean_db: str, redis_server: RedisServer) -> None:
    redis.Redis.from_url(redis_server.url).flushall()
    with (
        serve(settings(clean_db, redis_server.url, enable_multi_tenancy=True)) as url,
        client(url, **{"X-Tenant-ID": "one"}) as one,
        client(url, **{"X-Tenant-ID": "two"}) as two,
    ):
        fill(one)
        assert one.get(f"{USER}/u0").headers["x-cache"] == "computed"
        other = two.get(f"{USER}/u0")
        assert other.headers["x-cache"] == "computed"
        assert other.json()["recommendations"] == []  # tenant two has no catalogue
        assert one.get(f"{USER}/u0").json()["recommendations"]


def test_a_ttl_of_zero_turns_the_cache_off(clean_db: str) -> None:
    config = make_settings(
        clean_db,
        limits=LimitSettings(
            max_bulk_items=1000, recommendation_cache_ttl_secs=0, rate_limit_enabled=False
        ),
    )
    with serve(config) as url, client(url) as api:
        for _ in range(2):
            assert api.get(f"{USER}/anyone").headers["x-cache"] == "computed"


def test_memory_layer_is_bounded_in_entries_and_bytes() -> None:
    by_entries = _BoundedTTLCache(max_entries=3, max_bytes=10_000, ttl=60)
    for n in range(5):
        by_entries[n] = b"x" * 10
    assert len(by_entries) == 3 and 4 in by_entries and 0 not in by_entries
    by_bytes = _BoundedTTLCache(max_entries=100, max_bytes=100, ttl=60)
    for n in range(5):
        by_bytes[n] = b"x" * 40
    assert by_bytes.currsize <= 100 and len(by_bytes) == 2
    by_bytes["huge"] = b"x" * 1000  # larger than the whole layer: not kept
    assert "huge" not in by_bytes


def test_replicas_show_an_entity_change_at_once_without_the_response_cache(
    clean_db: str,
) -> None:
    """Each replica keeps the entity rows behind the items it ranks; a change made on one
    replica shows on the other in the very next answer (no Redis, nothing cached)."""
    config = make_settings(
        clean_db,
        limits=LimitSettings(
            max_bulk_items=1000, recommendation_cache_ttl_secs=0, rate_limit_enabled=False
        ),
    )
    with serve(config) as first, serve(config) as second, client(first) as a, client(second) as b:
        fill(a)
        before = b.get(f"{USER}/u0").json()["recommendations"]
        shown = before[0]["entity_id"]
        assert b.get(f"{SIMILAR}/m3").json()["recommendations"]  # both routes keep rows
        changed = a.put(
            f"/api/v1/entities/{shown}",
            params={"entity_type": "movie"},
            json={"attributes": {"genre": "drama", "decade": "2020s"}},
        )
        assert changed.status_code == 200, changed.text
        after = b.get(f"{USER}/u0").json()["recommendations"]
        assert [r["attributes"]["decade"] for r in after if r["entity_id"] == shown] == ["2020s"]
        similar = b.get(f"{SIMILAR}/m3").json()["recommendations"]
        assert all(r["attributes"]["decade"] == "2020s" for r in similar if r["entity_id"] == shown)

        assert a.delete(f"/api/v1/entities/{shown}", params={"entity_type": "movie"}).is_success
        assert shown not in ids(b.get(f"{USER}/u0").json())
        assert shown not in ids(b.get(f"{SIMILAR}/m3").json())
