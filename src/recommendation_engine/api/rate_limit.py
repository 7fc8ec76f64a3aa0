"""Rate limiting per client address and per API key, with the `limits` library.

The budget is RATE_LIMIT_REQUESTS_PER_MINUTE with bursts of at most RATE_LIMIT_BURST_SIZE:
one sliding window per client, of RATE_LIMIT_BURST_SIZE requests over the time the steady
rate takes to allow that many (100 per 6 s for 1,000 a minute). No client can then send
more than the burst at once, nor more than the rate over a minute. Counters live in
Redis when REDIS_URL is set, so replicas share them, and in process memory otherwise.
If Redis fails, requests are let through (logged and counted) rather than refused.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from recommendation_engine import metrics
from recommendation_engine.api.responses import error_response

logger = logging.getLogger(__name__)

# Probes and scrapes are never limited.
EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics"})


class RateLimiter:
    def __init__(self, per_minute: int, burst: int, redis_url: str | None = None) -> None:
        storage: Storage = (
            RedisStorage(
                redis_url if redis_url.startswith("async+") else f"async+{redis_url}",
                implementation="redispy",
                wrap_exceptions=True,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            )
            if redis_url
            else MemoryStorage()
        )
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self.item: RateLimitItem = (
            RateLimitItemPerSecond(burst, max(1, math.ceil(burst * 60 / per_minute)))
            if burst < per_minute
            else RateLimitItemPerMinute(per_minute)
        )

    async def retry_after(self, identities: list[str]) -> tuple[RateLimitItem, float] | None:
        """Count one request for each identity; None when allowed, else the limit that
        refused it and the seconds until it allows one again."""
        item = self.item
        try:
            for identity in identities:
                if not await self._limiter.hit(item, identity):
                    stats = await self._limiter.get_window_stats(item, identity)
                    return item, max(stats.reset_time - time.time(), 0.0)
        except Exception as error:  # storage unavailable: let the request through
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
