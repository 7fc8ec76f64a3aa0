"""Leases: one process at a time does a job, the others skip it.

A lease is a PostgreSQL session-level advisory lock on ``hashtext(key)``, taken with
``pg_try_advisory_lock`` (never waiting) on a connection of its own that it keeps for as
long as it is held. Every replica may try the same job; the one that gets the lease does
it, the others see that someone else is at it and move on:

    async with lease(pool, f"model:{tenant_id}") as held:
        if held is None:
            return  # another process is doing it
        ...  # `held` is the lease's connection, free for the job's own queries

It is always given up: unlocked when the block ends, however it ends (an error, a
cancellation, even a second cancellation while it is being unlocked); should the unlock
itself fail, the connection is closed instead, which ends its session and so every lock
the session held. (The service's pool does not reset connections it takes back, so a
lock left on one would otherwise outlive the job.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

logger = logging.getLogger(__name__)

_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtext($1))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtext($1))"
# Longer than an unlock ever takes (it first waits for a cancelled query to stop): past
# this the server is taken to be unreachable, and the connection is closed instead.
UNLOCK_SECONDS = 10.0


@asynccontextmanager
async def lease(pool: asyncpg.Pool, key: str) -> AsyncIterator[asyncpg.Connection | None]:
    """Hold the lease on ``key`` for the block: yields the connection holding it, or None
    when another session holds it (the block should then skip the job)."""
    async with pool.acquire() as conn:
        try:
            held = bool(await conn.fetchval(_TRY_LOCK, key))
        except BaseException:
            # Interrupted, the lock may have been taken or not: end the session to be sure.
            _end_session(conn)
            raise
        if not held:
            yield None
            return
        try:
            yield conn
        finally:
            await _give_up(conn, key)


async def _give_up(conn: asyncpg.Connection, key: str) -> None:
    """Unlock ``key``. A cancellation meanwhile waits for the unlock (a moment) and is
    raised after it; should the unlock fail, the session is ended instead."""
    unlock = asyncio.ensure_future(_unlock(conn, key))
    cancelled: asyncio.CancelledError | None = None
    while not unlock.done():
        try:
            await asyncio.shield(unlock)
        except asyncio.CancelledError as error:
            if not unlock.done():  # this task was cancelled, not the unlock
                cancelled = error
        except Exception:
            break  # the unlock failed: see below
    if unlock.cancelled() or unlock.exception() is not None:
        _end_session(conn)
        if not unlock.cancelled():
            # Given up all the same: the job's own outcome is what the caller hears.
            logger.warning(
                "lease %r given up by closing its connection: %s", key, unlock.exception()
            )
    if cancelled is not None:
        raise cancelled


async def _unlock(conn: asyncpg.Connection, key: str) -> None:
    async with asyncio.timeout(UNLOCK_SECONDS):
        await conn.execute(_UNLOCK, key)


def _end_session(conn: asyncpg.Connection) -> None:
    # A connection found lost is closed and back in the pool already.
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()
