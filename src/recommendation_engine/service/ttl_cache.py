"""A replica's short-lived copy of values read from the database, one per key.

A value is trusted for ``ttl`` seconds after it was read, then read again; the least
recently used keys go first beyond ``max_entries``. `get_or_load` reads a missing value
once however many callers ask for it at the same time: the first caller's loader runs,
the others wait for its answer (when it fails, they all hear the error and nothing is
kept; when it is cancelled, another waiting caller loads instead).

A write calls `pop` (or `put`) for what it changed: the next caller then reads the new
value. A load that started before the write does not put its answer in the cache
afterwards, so a value read before a change is never kept past it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar, overload

import cachetools

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")


class _LoadAbandoned(Exception):
    """The caller that was loading a value was cancelled before it had it."""


class TTLCache(Generic[K, V]):
    def __init__(
        self,
        ttl: float,
        max_entries: int = 10_000,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._entries: cachetools.TTLCache[K, V] = cachetools.TTLCache(
            max_entries, ttl, timer=timer
        )
        self._loading: dict[K, asyncio.Future[V]] = {}

    def __contains__(self, key: K) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: D) -> V | D: ...
    def get(self, key: K, default: object = None) -> object:
        """The value kept for ``key``, or ``default`` when there is none or it expired."""
        return self._entries.get(key, default)

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` for ``key`` (a load of the key in progress will not replace it)."""
        self._loading.pop(key, None)
        self._entries[key] = value

    def pop(self, key: K) -> None:
        """Forget ``key``: the next caller reads it again (a load of the key in progress
        will not keep its answer)."""
        self._loading.pop(key, None)
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._loading.clear()
        self._entries.clear()

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The value kept for ``key``; when there is none, ``load()``'s, kept for the
        next ``ttl`` seconds. Concurrent callers for one key share one load."""
        while True:
            try:
                return self._entries[key]
            except KeyError:
                pass
            pending = self._loading.get(key)
            if pending is None:
                break
            try:
                # Shielded: a waiter that is cancelled leaves the load to the others.
                return await asyncio.shield(pending)
            except _LoadAbandoned:
                continue
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except BaseException as error:
            if self._loading.get(key) is future:
                del self._loading[key]
            future.set_exception(error if isinstance(error, Exception) else _LoadAbandoned())
            future.exception()  # marked as seen: nobody may have been waiting
            raise
        if self._loading.get(key) is future:
            del self._loading[key]
            self._entries[key] = value
        future.set_result(value)
        return value
