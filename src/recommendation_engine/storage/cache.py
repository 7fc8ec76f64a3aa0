"""Cached responses in two layers: this process's memory (L1) and Redis (L2, shared by
every replica, when REDIS_URL is set).

Keys carry the tenant, a generation per tenant and per user, and whatever the caller
puts in the digest (route, every parameter, the model version). Invalidating a user or
a tenant moves its generation on, here and, through Redis pub/sub, on every replica;
older entries are never read again and expire. Redis is optional at every moment: when
it fails, requests go uncached (logged and counted) and the cache reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from cachetools import TTLCache
from redis.exceptions import RedisError

from recommendation_engine import __version__, metrics

logger = logging.getLogger(__name__)

CHANNEL = "recommendation-cache:invalidate"
# After a Redis failure, requests skip Redis this long before trying it again.
RETRY_AFTER_SECONDS = 1.0
_T = TypeVar("_T")
# Counted per lookup: children bound once.
_MEMORY_HITS, _REDIS_HITS = (metrics.CACHE_HITS.labels(layer) for layer in ("memory", "redis"))
_MEMORY_MISSES, _REDIS_MISSES = (
    metrics.CACHE_MISSES.labels(layer) for layer in ("memory", "redis")
)


class _BoundedTTLCache(TTLCache):
    """A TTL cache bounded in bytes (``maxsize``, values measured by ``len``) and in
    entries; the least recently used entries go first."""

    def __init__(self, max_entries: int, max_bytes: int, ttl: float) -> None:
        super().__init__(maxsize=max_bytes, ttl=ttl, getsizeof=len)
        self._max_entries = max_entries

    def __setitem__(self, key: Any, value: bytes) -> None:
        if len(value) > self.maxsize:
            return  # larger than the whole cache: not kept
        while key not in self and len(self) >= self._max_entries:
            self.popitem()
        super().__setitem__(key, value)


class ResponseCache:
    def __init__(
        self,
        ttl_seconds: float,
        redis_url: str | None = None,
        max_entries: int = 10_000,
        max_bytes: int = 64 * 2**20,
        redis_connections: int = 10,
    ) -> None:
        self.ttl = ttl_seconds
        self.enabled = ttl_seconds > 0
        self._memory = _BoundedTTLCache(max_entries, max_bytes, max(ttl_seconds, 1))
        # Generations, kept at least as long as an entry they guard can live.
        self._users: TTLCache[tuple[str, str], int] = TTLCache(1_000_000, max(ttl_seconds, 1))
        self._tenants: dict[str, int] = {}
        self._redis = (
            aioredis.Redis(
                # Requests beyond the pool wait for a connection (briefly) rather than
                # fail; one more connection is held by the invalidation listener.
                connection_pool=aioredis.BlockingConnectionPool.from_url(
                    redis_url,
                    max_connections=redis_connections + 1,
                    timeout=0.5,
                    socket_timeout=0.5,
                    socket_connect_timeout=0.5,
                    health_check_interval=5,
                )
            )
            if redis_url and self.enabled
            else None
        )
        self._redis_down_until = 0.0
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._redis is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="cache-invalidations")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._redis is not None:
            await self._redis.aclose()

    # -- reading and writing -------------------------------------------------------

    async def get_or_compute(
        self,
        tenant_id: str,
        user_id: str | None,
        digest: str,
        compute: Callable[[], Awaitable[bytes]],
    ) -> tuple[bytes, str]:
        """The cached body for ``digest`` (a user's entry when ``user_id`` is given), or
        ``compute()``'s, which is then cached under the generations read before it ran:
        an invalidation while it ran leaves it unreachable. Also where it came from:
        "memory", "redis" or "computed"."""
        if not self.enabled:
            return await compute(), "computed"
        tenant_generation = await self._tenant_generation(tenant_id)
        user_generation = self._user_generation(tenant_id, user_id)
        memory_key = (tenant_id, tenant_generation, user_id, user_generation, digest)
        found = self._memory.get(memory_key)
        if found is not None:
            _MEMORY_HITS.inc()
            return found, "memory"
        _MEMORY_MISSES.inc()
        redis_key = _redis_key(tenant_id, tenant_generation, user_id, digest)
        if self._redis is not None:
            found = await self._call(self._read(redis_key, user_id, digest))
            if found is not None:
                _REDIS_HITS.inc()
                self._memory[memory_key] = found
                return found, "redis"
            _REDIS_MISSES.inc()
        body = await compute()
        if (
            self._user_generation(tenant_id, user_id) != user_generation
            or self._tenants.get(tenant_id, tenant_generation) != tenant_generation
        ):
            return body, "computed"  # invalidated while it ran: possibly stale, not kept
        self._memory[memory_key] = body
        if self._redis is not None:
            await self._call(self._write(redis_key, user_id, digest, body))
        return body, "computed"

    async def _read(self, key: str, user_id: str | None, digest: str) -> bytes | None:
        assert self._redis is not None
        if user_id is None:
            return await self._redis.get(key)
        found = await self._redis.hget(key, digest)
        if found is None or len(found) < 8:
            return None
        # A user's entries share one hash: each carries its own time of writing.
        if time.time() - int.from_bytes(found[:8], "big") / 1000 > self.ttl:
            return None
        return found[8:]

    async def _write(self, key: str, user_id: str | None, digest: str, body: bytes) -> None:
        assert self._redis is not None
        ttl = max(int(self.ttl), 1)
        if user_id is None:
            await self._redis.set(key, body, ex=ttl)
            return
        stamped = int(time.time() * 1000).to_bytes(8, "big") + body
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, digest, stamped)
            pipe.expire(key, ttl)
            await pipe.execute()

    # -- invalidation --------------------------------------------------------------

    async def invalidate_users(self, tenant_id: str, user_ids: Iterable[str]) -> None:
        """Forget the users' cached recommendations here and on every replica."""
        users = sorted(set(user_ids))
        if not self.enabled or not users:
            return
        for user in users:
            self._bump_user(tenant_id, user)
        if self._redis is not None:
            generation = await self._tenant_generation(tenant_id)
            keys = [_redis_key(tenant_id, generation, user, "") for user in users]
            await self._call(self._drop_users(tenant_id, keys, users))

    async def _drop_users(self, tenant_id: str, keys: list[str], users: list[str]) -> None:
        assert self._redis is not None
        async with self._redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(keys), 1000):
                pipe.delete(*keys[start : start + 1000])
            pipe.publish(CHANNEL, _message("user", tenant_id, users))
            await pipe.execute()

    async def invalidate_tenant(self, tenant_id: str) -> None:
        """Forget everything cached for the tenant (its catalogue or settings changed)."""
        if not self.enabled:
            return
        self._tenants[tenant_id] = self._tenants.get(tenant_id, 0) + 1
        if self._redis is not None:
            await self._call(self._next_tenant_generation(tenant_id))

    async def _next_tenant_generation(self, tenant_id: str) -> None:
        assert self._redis is not None
        generation = int(await self._redis.incr(_tenant_key(tenant_id)))
        self._tenants[tenant_id] = generation
        await self._redis.publish(CHANNEL, _message("tenant", tenant_id, [str(generation)]))

    def _bump_user(self, tenant_id: str, user_id: str) -> None:
        key = (tenant_id, user_id)
        self._users[key] = self._users.get(key, 0) + 1

    def _user_generation(self, tenant_id: str, user_id: str | None) -> int:
        return 0 if user_id is None else self._users.get((tenant_id, user_id), 0)

    async def _tenant_generation(self, tenant_id: str) -> int:
        known = self._tenants.get(tenant_id)
        if known is not None:
            return known
        generation = 0
        if self._redis is not None:
            stored = await self._call(self._redis.get(_tenant_key(tenant_id)))
            if stored is None and self._redis_down_until > time.monotonic():
                return 0  # not known yet and Redis is away: ask again next time
            generation = int(stored or 0)
        self._tenants[tenant_id] = generation
        return generation

    async def _listen(self) -> None:
        """Apply other replicas' invalidations; reconnect after any failure."""
        assert self._redis is not None
        delay = 0.2
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    # Whatever was missed while disconnected: start from a clean slate.
                    self._forget_everything()
                    delay = 0.2
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._apply(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                metrics.CACHE_ERRORS.inc()
                logger.warning("cache invalidations from Redis interrupted: %s", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _apply(self, data: bytes) -> None:
        kind, tenant_id, *values = data.decode().split("\0")
        if kind == "user":
            for user in values:
                self._bump_user(tenant_id, user)
        elif kind == "tenant" and values:
            self._tenants[tenant_id] = max(self._tenants.get(tenant_id, 0), int(values[0]))

    def _forget_everything(self) -> None:
        self._memory.clear()
        self._tenants.clear()

    async def _call(self, operation: Awaitable[_T]) -> _T | None:
        """Run a Redis operation; on failure count it, log it, and skip Redis briefly."""
        if time.monotonic() < self._redis_down_until:
            if asyncio.iscoroutine(operation):
                operation.close()
            return None
        try:
            return await operation
        except (TimeoutError, RedisError, OSError) as error:
            metrics.CACHE_ERRORS.inc()
            if self._redis_down_until == 0.0 or time.monotonic() >= self._redis_down_until:
                logger.warning("Redis cache unavailable, answering uncached: %s", error)
            self._redis_down_until = time.monotonic() + RETRY_AFTER_SECONDS
            return None


def digest(*parts: object) -> str:
    """A short, stable key for a request's parameters. It carries the service's version,
    so that during a rolling update neither release reads answers the other rendered."""
    return hashlib.blake2b(repr((__version__, *parts)).encode(), digest_size=16).hexdigest()


def _redis_key(tenant_id: str, generation: int, user_id: str | None, digest: str) -> str:
    if user_id is None:
        return f"rc:{tenant_id}:{generation}:{digest}"
    return f"rc:{tenant_id}:{generation}:user:{user_id}"


def _tenant_key(tenant_id: str) -> str:
    return f"rc:{tenant_id}:generation"


def _message(kind: str, tenant_id: str, values: list[str]) -> str:
    return "\0".join([kind, tenant_id, *values])
