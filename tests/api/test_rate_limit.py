"""Rate limiting: 429 with Retry-After, shared across replicas through Redis."""

from __future__ import annotations

import hashlib

import redis

from recommendation_engine.api.rate_limit import RateLimiter, _identities
from recommendation_engine.config import (
    AuthSettings,
    LimitSettings,
    RedisSettings,
    ServerSettings,
)
from tests.support import API_KEY, RedisServer, assert_error, client, make_settings, serve


def limited(database_url: str, per_minute: int, burst: int, **groups: object):
    return make_settings(
        database_url,
        limits=LimitSettings(
            max_bulk_items=1000,
            rate_limit_enabled=True,
            rate_limit_requests_per_minute=per_minute,
            rate_limit_burst_size=burst,
        ),
        **groups,
    )


def test_over_the_limit_is_429_with_retry_after(database_url: str) -> None:
    # A budget of 3 a minute: the window is long enough not to roll over mid-test.
    with serve(limited(database_url, per_minute=3, burst=3)) as url, client(url) as api:
        for _ in range(3):
            assert api.get("/api/v1/interaction-types").status_code == 200
        refused = api.get("/api/v1/interaction-types")
        assert_error(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["ratelimit-limit"] == "3"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert refused.json()["error"]["details"]["retry_after_seconds"] >= 1
        # Probes and scrapes are exempt.
        for path in ("/health", "/ready", "/metrics"):
            assert api.get(path).status_code == 200, path


def test_the_budget_is_shared_by_replicas_through_redis(
    database_url: str, redis_server: RedisServer
) -> None:
    redis.Redis.from_url(redis_server.url).flushall()
    settings = limited(
        database_url, per_minute=5, burst=5, redis=RedisSettings(url=redis_server.url)
    )
    with (
        serve(settings) as first,
        serve(settings) as second,
        client(first) as a,
        client(second) as b,
    ):
        answers = [a.get("/api/v1/interaction-types").status_code for _ in range(3)]
        answers += [b.get("/api/v1/interaction-types").status_code for _ in range(2)]
        assert answers == [200] * 5
        assert b.get("/api/v1/interaction-types").status_code == 429
        assert a.get("/api/v1/interaction-types").status_code == 429


def test_forwarded_addresses_count_only_from_trusted_proxies(database_url: str) -> None:
    # No API key here: a key has its own budget, shared by all who present it.
    def statuses(url: str) -> list[int]:
        with client(url, api_key=None) as api:
            return [
                api.get(
                    "/api/v1/interaction-types", headers={"X-Forwarded-For": f"203.0.113.{n}"}
                ).status_code
                for n in range(4)
            ]

    # Not trusted: every request is the proxy's own, one budget of two.
    open_access = AuthSettings(require_api_key=False)
    with serve(limited(database_url, per_minute=2, burst=2, auth=open_access)) as url:
        assert statuses(url) == [200, 200, 429, 429]
    trusted = limited(
        database_url,
        per_minute=2,
        burst=2,
        auth=open_access,
        server=ServerSettings(trusted_proxies="127.0.0.1"),
    )
    with serve(trusted) as url:
        assert statuses(url) == [200] * 4  # four clients, one request each


def test_without_redis_requests_are_let_through(database_url: str) -> None:
    settings = limited(
        database_url, per_minute=600, burst=2, redis=RedisSettings(url="redis://127.0.0.1:1/0")
    )
    with serve(settings) as url, client(url) as api:
        assert [api.get("/api/v1/interaction-types").status_code for _ in range(4)] == [200] * 4


def test_clients_are_counted_by_address_and_by_key() -> None:
    scope = {"client": ("198.51.100.7", 5000), "headers": [(b"x-api-key", API_KEY.encode())]}
    hashed = hashlib.sha256(API_KEY.encode()).hexdigest()[:32]
    assert _identities(scope) == ["ip:198.51.100.7", f"key:{hashed}"]
    bearer = {"client": None, "headers": [(b"authorization", b"Bearer " + API_KEY.encode())]}
    assert _identities(bearer) == ["ip:unknown", f"key:{hashed}"]
    assert API_KEY not in str(_identities(scope))  # keys are never stored as given


def test_the_burst_window_matches_the_steady_rate() -> None:
    burst = RateLimiter(per_minute=1000, burst=100).item
    assert (burst.amount, burst.multiples, burst.GRANULARITY.name) == (100, 6, "second")
    steady = RateLimiter(per_minute=10, burst=100).item  # a burst above the rate: the rate
    assert (steady.amount, steady.multiples, steady.GRANULARITY.name) == (10, 1, "minute")
