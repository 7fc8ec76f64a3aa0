"""The asyncpg connection pool and the database's lifecycle for one process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from pgvector.asyncpg import register_vector

from recommendation_engine.storage.embedded import TUNING, EmbeddedPostgres, needs_tuning

logger = logging.getLogger(__name__)

Pool = asyncpg.Pool

SERVER_SETTINGS = {
    # Short OLTP queries: JIT compilation would cost more than it saves.
    "jit": "off",
    # HNSW searches: candidate list size (pgvector's default; recall@10 0.95 on the
    # synthetic catalogue, see benchmarks/RESULTS.md), and iterative scans so that
    # filters applied after the index (tenant, type, attributes, exclusions) and
    # requests for more than 40 rows never starve a result.
    "hnsw.ef_search": "40",
    "hnsw.iterative_scan": "relaxed_order",
}


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached right now (down, restarting,
    out of connections, a connection lost or a query that timed out) rather than that
    something is wrong with what was asked of it."""
    if isinstance(exc, asyncpg.InternalClientError):
        # A connection lost in the middle of an exchange leaves its protocol in a state
        # the next command trips over; the pool's connections are replaced after this.
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        # The client's word for a connection (or pool) found closed, which is what a
        # connection lost in the middle of a transaction ends with.
        return "clos" in str(exc)
    return isinstance(
        exc,
        OSError  # refused, reset, no socket, timed out
        | asyncpg.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError  # shutting down, starting up
        | asyncpg.exceptions.InsufficientResourcesError,  # too many connections
    )


async def init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=lambda value: b"\x01" + orjson.dumps(value),
        decoder=lambda data: orjson.loads(data[1:]),
        format="binary",
    )
    await register_vector(conn)


async def keep_session(conn: asyncpg.Connection) -> None:
    """Reset nothing when a connection returns to the pool (asyncpg still rolls back an
    open transaction). The default reset (RESET ALL, UNLISTEN, CLOSE ALL, releasing
    advisory locks) costs a round trip on every request, and there is nothing for it to
    do: the service changes settings only with SET LOCAL, never listens or keeps
    cursors, and gives its advisory locks up itself (storage.lease)."""


async def create_pool(url: str, max_size: int, min_size: int = 1) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        url,
        min_size=min(min_size, max_size),
        max_size=max_size,
        init=init_connection,
        reset=keep_session,
        command_timeout=60,
        server_settings=SERVER_SETTINGS,
        statement_cache_size=256,
    )


class Database:
    """Where the data lives: an external server (DATABASE_URL) or the embedded one."""

    def __init__(self, url: str | None, data_dir: Path) -> None:
        self._external_url = url
        self._data_dir = data_dir
        self._embedded: EmbeddedPostgres | None = None
        self._stopping = threading.Event()
        self.url: str = url or ""

    @property
    def embedded(self) -> bool:
        return self._embedded is not None

    def start(self) -> str:
        """Return a connection URL, starting the embedded server when there is no URL."""
        if self._external_url:
            return self._external_url
        self._embedded = EmbeddedPostgres(self._data_dir)
        self.url = self._embedded.url
        return self.url

    def restart(self) -> None:
        if self._embedded is not None:
            self._embedded.restart()
            self.url = self._embedded.url

    def supervise(self, on_lost: Callable[[], None], interval: float = 1.0) -> None:
        """Watch an embedded server from a background thread and start it again whenever
        it stops (killed, crashed); call ``on_lost`` when it cannot be started again.
        An external server has supervisors of its own: the pool simply reconnects."""
        embedded = self._embedded
        if embedded is None:
            return
        stopping = self._stopping

        def watch() -> None:
            while not stopping.wait(interval):
                if embedded.is_running():
                    continue
                logger.error(
                    "embedded PostgreSQL in %s stopped; starting it again", embedded.pgdata
                )
                try:
                    embedded.start_again()  # nothing, once the server is stopped
                except Exception:
                    logger.exception("embedded PostgreSQL could not be started again")
                    on_lost()
                    return
                if stopping.is_set():
                    return
                logger.warning("embedded PostgreSQL is running again")

        threading.Thread(target=watch, name="embedded-postgres-watch", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None


async def tune_embedded(url: str) -> bool:
    """Apply TUNING to an embedded server; True when a restart is needed to take effect."""
    conn = await asyncpg.connect(url)
    try:
        current: dict[str, Any] = {name: await conn.fetchval(f"SHOW {name}") for name in TUNING}
        missing = needs_tuning(current)
        for name, value in missing.items():
            await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        if not missing:
            return False
        await conn.execute("SELECT pg_reload_conf()")
        # Settings of context 'postmaster' take effect only after a restart.
        return bool(
            await conn.fetchval(
                "SELECT count(*) FROM pg_settings WHERE name = ANY($1) AND context = 'postmaster'",
                list(missing),
            )
        )
    finally:
        await conn.close()
