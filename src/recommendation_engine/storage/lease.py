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
cancellation); should the unlock itself fail or be interrupted, the connection is closed
instead, which ends its session and so every lock the session held.
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
            try:
                await conn.execute(_UNLOCK, key)
            except asyncio.CancelledError:
                _end_session(conn)  # a session's locks end with it
                raise
            except Exception as error:
                # Given up all the same: the job's own outcome is what the caller hears.
                _end_session(conn)
                logger.warning("lease %r released by closing its connection: %s", key, error)


def _end_session(conn: asyncpg.Connection) -> None:
    # A connection found lost is closed and back in the pool already.
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()
