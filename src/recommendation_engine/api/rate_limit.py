"""Rate limiting per client address and per API key.

The budget is RATE_LIMIT_REQUESTS_PER_MINUTE with bursts of at most RATE_LIMIT_BURST_SIZE:
one sliding window per client, of RATE_LIMIT_BURST_SIZE requests over the time the steady
rate takes to allow that many (100 per 6 s for 1,000 a minute). No client can then send
more than the burst at once, nor more than the rate over a minute.

With REDIS_URL the counters live in Redis, shared by every replica, counted by the
`limits` library's sliding-window-counter strategy. If Redis fails, requests are let
through (logged and counted) rather than refused, and Redis is left alone for a second.
Without Redis each process counts in its own memory with the same algorithm
(`LocalWindows`): the library's in-memory storage schedules its expiry on every count (a
new thread or task each time), which cost more than the rest of the rate limiting.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from recommendation_engine import metrics
from recommendation_engine.api.responses import error_response

logger = logging.getLogger(__name__)

# Probes and scrapes are never limited.
EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics"})
# After a Redis failure, requests are let through without trying Redis for this long.
SKIP_AFTER_FAILURE_SECONDS = 1.0


class LocalWindows:
    """Sliding-window counters in this process's memory. A client's count is its count
    in the current fixed window plus the previous window's, weighted by the share of
    the sliding window still over it; a request is allowed while that stays within
    ``amount``. Clients idle for two windows are forgotten."""

    def __init__(self, amount: int, seconds: float) -> None:
        self.amount = amount
        self.seconds = seconds
        # client -> (window number, requests in it, requests in the window before)
        self._counts: dict[str, tuple[int, int, int]] = {}
        self._swept = 0

    def hit(self, client: str, now: float) -> float | None:
        """Count a request; None when allowed, else the seconds until one would be."""
        window, into = divmod(now, self.seconds)
        number = int(window)
        current, previous = 0, 0
        state = self._counts.get(client)
        if state is not None:
            if state[0] == number:
                current, previous = state[1], state[2]
            elif state[0] == number - 1:
                previous = state[1]
        weighted = previous * (self.seconds - into) / self.seconds + current
        if weighted + 1 > self.amount:
            self._counts[client] = (number, current, previous)
            if current + 1 > self.amount or previous == 0:
                return self.seconds - into  # not before the next window
            # the previous window's weight falls until one more request fits
            room = (self.amount - 1 - current) / previous
            return max(self.seconds * (1 - room) - into, 0.0)
        self._counts[client] = (number, current + 1, previous)
        if number > self._swept + 1:
            self._sweep(number)
        return None

    def _sweep(self, number: int) -> None:
        self._counts = {k: v for k, v in self._counts.items() if v[0] >= number - 1}
        self._swept = number


class RateLimiter:
    def __init__(self, per_minute: int, burst: int, redis_url: str | None = None) -> None:
        self.item: RateLimitItem = (
            RateLimitItemPerSecond(burst, max(1, math.ceil(burst * 60 / per_minute)))
            if burst < per_minute
            else RateLimitItemPerMinute(per_minute)
        )
        self._local = None if redis_url else LocalWindows(self.item.amount, self.item.get_expiry())
        self._shared = (
            SlidingWindowCounterRateLimiter(
                RedisStorage(
                    redis_url if redis_url.startswith("async+") else f"async+{redis_url}",
                    implementation="redispy",
                    wrap_exceptions=True,
                    socket_timeout=0.5,
                    socket_connect_timeout=0.5,
                )
            )
            if redis_url
            else None
        )
        self._skip_until = 0.0

    async def retry_after(self, identities: list[str]) -> tuple[RateLimitItem, float] | None:
        """Count one request for each identity; None when allowed, else the limit that
        refused it and the seconds until it allows one again."""
        item = self.item
        if self._local is not None:
            now = time.time()
            for identity in identities:
                wait = self._local.hit(identity, now)
                if wait is not None:
                    return item, wait
            return None
        assert self._shared is not None
        if time.monotonic() < self._skip_until:
            return None
        try:
            for identity in identities:
                if not await self._shared.hit(item, identity):
                    stats = await self._shared.get_window_stats(item, identity)
                    return item, max(stats.reset_time - time.time(), 0.0)
        except Exception as error:  # Redis unavailable: let the request through
            self._skip_until = time.monotonic() + SKIP_AFTER_FAILURE_SECONDS
            metrics.RATE_LIMIT_ERRORS.inc()
            logger.warning("rate limiter storage unavailable, not limiting: %s", error)
        return None


class RateLimit:
    """Refuse requests over the budget with 429, Retry-After and RateLimit headers."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        refused = await self.limiter.retry_after(_identities(scope))
        if refused is None:
            await self.app(scope, receive, send)
            return
        item, wait = refused
        retry_after = max(1, math.ceil(wait))
        response = error_response(
            429,
            "rate_limited",
            f"too many requests: at most {item.amount} per {item.multiples} "
            f"{item.GRANULARITY.name}(s); retry in {retry_after} s",
            {"retry_after_seconds": retry_after},
            headers={
                "Retry-After": str(retry_after),
                "RateLimit-Limit": str(item.amount),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(retry_after),
            },
        )
        await response(scope, receive, send)


def _identities(scope: Scope) -> list[str]:
    """The client address (after trusted proxies' X-Forwarded-For, which uvicorn applies)
    and, when one is presented, the API key (hashed: keys are never stored)."""
    client = scope.get("client")
    identities = [f"ip:{client[0] if client else 'unknown'}"]
    for name, value in scope["headers"]:
        if name == b"x-api-key" or (name == b"authorization" and value[:7].lower() == b"bearer "):
            key = value if name == b"x-api-key" else value[7:]
            identities.append("key:" + hashlib.sha256(key).hexdigest()[:32])
            break
    return identities
