"""SQL for trained models: versions, their items and neighbour lists.

A model is written under a new version in state ``building``, then published in one
transaction that retires the previous live version; readers always see exactly one
live version per tenant. The last retired version is kept so requests that started on
it can finish; older ones are deleted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import numpy as np


@dataclass(frozen=True, slots=True)
class ModelInfo:
    tenant_id: str
    version: int
    state: str
    algorithm: str
    config: dict[str, Any]
    started_at: datetime
    trained_at: datetime | None
    users: int
    items: int
    interactions: int
    last_interaction_id: int


_INFO = (
    "tenant_id, version, state, algorithm, config, started_at, trained_at, users, items, "
    "interactions, last_interaction_id"
)


def _info(row: asyncpg.Record) -> ModelInfo:
    return ModelInfo(**dict(row))


async def begin(conn: asyncpg.Connection, tenant_id: str, algorithm: str, config: dict) -> int:
    return await conn.fetchval(
        "INSERT INTO models (tenant_id, version, state, algorithm, config) "
        "VALUES ($1, nextval('model_version_seq'), 'building', $2, $3) RETURNING version",
        tenant_id,
        algorithm,
        config,
    )


async def write_items(
    conn: asyncpg.Connection,
    tenant_id: str,
    version: int,
    rows: Sequence[tuple[int, str, str, float, bytes, bytes]],
) -> None:
    """``rows``: (item, entity_type, entity_id, popularity, neighbours, scores)."""
    await conn.copy_records_to_table(
        "model_items",
        records=[(tenant_id, version, *row) for row in rows],
        columns=[
            "tenant_id",
            "version",
            "item",
            "entity_type",
            "entity_id",
            "popularity",
            "neighbours",
            "scores",
        ],
    )


async def publish(
    conn: asyncpg.Connection,
    tenant_id: str,
    version: int,
    users: int,
    items: int,
    interactions: int,
    last_interaction_id: int,
) -> None:
    """Make ``version`` the live model (call inside a transaction)."""
    await conn.execute("DELETE FROM models WHERE tenant_id = $1 AND state = 'retired'", tenant_id)
    await conn.execute(
        "UPDATE models SET state = 'retired' WHERE tenant_id = $1 AND state = 'live'", tenant_id
    )
    await conn.execute(
        """
        UPDATE models SET state = 'live', trained_at = now(), users = $3, items = $4,
            interactions = $5, last_interaction_id = $6
        WHERE tenant_id = $1 AND version = $2
        """,
        tenant_id,
        version,
        users,
        items,
        interactions,
        last_interaction_id,
    )


async def discard(conn: asyncpg.Connection, tenant_id: str, version: int) -> None:
    await conn.execute(
        "DELETE FROM models WHERE tenant_id = $1 AND version = $2 AND state = 'building'",
        tenant_id,
        version,
    )


async def discard_unfinished(conn: asyncpg.Connection, tenant_id: str) -> None:
    await conn.execute("DELETE FROM models WHERE tenant_id = $1 AND state = 'building'", tenant_id)


async def live(conn: asyncpg.Connection, tenant_id: str) -> ModelInfo | None:
    row = await conn.fetchrow(
        f"SELECT {_INFO} FROM models WHERE tenant_id = $1 AND state = 'live'", tenant_id
    )
    return _info(row) if row else None


async def building(conn: asyncpg.Connection, tenant_id: str) -> ModelInfo | None:
    row = await conn.fetchrow(
        f"SELECT {_INFO} FROM models WHERE tenant_id = $1 AND state = 'building' "
        "ORDER BY version DESC LIMIT 1",
        tenant_id,
    )
    return _info(row) if row else None


async def tenants_with_interactions(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        """
        WITH RECURSIVE t AS (
            (SELECT tenant_id FROM interactions ORDER BY tenant_id LIMIT 1)
            UNION ALL
            SELECT (SELECT tenant_id FROM interactions WHERE tenant_id > t.tenant_id
                    ORDER BY tenant_id LIMIT 1)
            FROM t WHERE t.tenant_id IS NOT NULL
        )
        SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL
        """
    )
    return [row["tenant_id"] for row in rows]


async def newest_interaction_id(conn: asyncpg.Connection, tenant_id: str) -> int:
    value = await conn.fetchval("SELECT max(id) FROM interactions WHERE tenant_id = $1", tenant_id)
    return int(value or 0)


async def training_rows(
    conn: asyncpg.Connection, tenant_id: str, up_to_id: int
) -> AsyncIterator[asyncpg.Record]:
    """Every interaction of the tenant up to ``up_to_id`` (needs a transaction)."""
    async for row in conn.cursor(
        """
        SELECT user_id, entity_type, entity_id, interaction_type, weight, value,
               extract(epoch FROM occurred_at)::float8 AS at
        FROM interactions WHERE tenant_id = $1 AND id <= $2
        """,
        tenant_id,
        up_to_id,
        prefetch=20_000,
    ):
        yield row


def pack(neighbours: np.ndarray, scores: np.ndarray) -> tuple[bytes, bytes]:
    return (
        np.asarray(neighbours, dtype="<i4").tobytes(),
        np.asarray(scores, dtype="<f4").tobytes(),
    )


def unpack(neighbours: bytes, scores: bytes) -> tuple[np.ndarray, np.ndarray]:
    return np.frombuffer(neighbours, dtype="<i4"), np.frombuffer(scores, dtype="<f4")
