"""Bringing the database up for a process: embedded or external, tuned and migrated."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from recommendation_engine.config import Settings
from recommendation_engine.storage.database import Database, tune_embedded
from recommendation_engine.storage.migrate import upgrade

logger = logging.getLogger(__name__)


class SchemaMismatch(RuntimeError):
    pass


def open_database(settings: Settings) -> Database:
    """Start (or attach to) the database, tune an embedded one and apply migrations."""
    url = settings.database.url.get_secret_value() if settings.database.url else None
    database = Database(url, settings.server.data_dir)
    database.start()
    try:
        if database.embedded and asyncio.run(tune_embedded(database.url)):
            logger.info("restarting embedded PostgreSQL to apply its tuning")
            database.restart()
        upgrade(database.url, settings.engine.feature_vector_dimension)
        asyncio.run(check_schema(database.url, settings.engine.feature_vector_dimension))
    except BaseException:
        database.stop()
        raise
    return database


async def check_schema(url: str, dimension: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        # pgvector keeps a vector column's dimension as the column's type modifier.
        stored = await conn.fetchval(
            "SELECT atttypmod FROM pg_attribute "
            "WHERE attrelid = 'entities'::regclass AND attname = 'feature_vector'"
        )
    finally:
        await conn.close()
    if stored is not None and int(stored) != dimension:
        raise SchemaMismatch(
            f"FEATURE_VECTOR_DIMENSION is {dimension} but the database stores vectors of "
            f"{stored} dimensions; set FEATURE_VECTOR_DIMENSION={stored} or use a new database"
        )
