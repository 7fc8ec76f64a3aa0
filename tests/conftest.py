"""Shared fixtures: one embedded PostgreSQL (with pgvector) for the whole test session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from recommendation_engine.storage.database import Database
from recommendation_engine.storage.migrate import upgrade
from tests.support import RedisServer, WebhookReceiver, client, make_settings, serve

TABLES = (
    "interactions",
    "entities",
    "catalogue_generations",
    "interaction_types",
    "models",
    "interaction_daily",
    "trending_state",
    "trending",
    "interaction_users",
    "interaction_recounts",
    "tenants",
    "api_keys",
    "webhooks",
    "webhook_events",
    "webhook_deliveries",
    "model_history",
    "evaluation_runs",
    "dashboard_sessions",
    "experiments",
    "impressions",
)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL with pgvector, started from the embedded wheel, migrated once."""
    database = Database(None, Path(tmp_path_factory.mktemp("pg")))
    url = database.start()
    upgrade(url, 512)
    yield url
    database.stop()


def _truncate(url: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            for attempt in range(5):
                try:
                    await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
                    return
                except asyncpg.DeadlockDetectedError:
                    # A running app's webhook dispatcher locks the webhook tables in
                    # another order each second; try again.
                    if attempt == 4:
                        raise
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture
def clean_db(database_url: str) -> str:
    """The database URL, with every table emptied before the test."""
    _truncate(database_url)
    return database_url


@pytest.fixture(scope="module")
def base_url(database_url: str) -> Iterator[str]:
    """One running app per test module, over real HTTP."""
    with serve(make_settings(database_url)) as url:
        yield url


@pytest.fixture
def api(base_url: str, clean_db: str) -> Iterator[httpx.Client]:
    """An authenticated client of the module's app, with an empty database."""
    with client(base_url) as http:
        yield http


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real Redis-protocol server (Valkey) for the whole session."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A real HTTP server that records the webhooks posted to it."""
    with WebhookReceiver() as server:
        yield server
