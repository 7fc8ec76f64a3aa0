"""SQL for registered tenants, their configuration and their API keys."""

from __future__ import annotations

from typing import Any

import asyncpg

# Every table holding a tenant's data, children before parents.
TENANT_TABLES = (
    "webhook_deliveries",
    "webhook_events",
    "webhooks",
    "interactions",
    "interaction_daily",
    "trending",
    "trending_state",
    "interaction_users",
    "interaction_recounts",
    "model_items",
    "models",
    "entities",
    "catalogue_generations",
    "interaction_types",
    "model_history",
    "evaluation_runs",
    "dashboard_sessions",
    "impressions",
    "experiments",
)

_TENANT = "tenant_id, name, config, created_at, updated_at"
_KEY = "key_id::text AS key_id, key_prefix, name, tenant_id, created_at"


async def get(conn: asyncpg.Connection, tenant_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_TENANT} FROM tenants WHERE tenant_id = $1", tenant_id)


async def config(conn: asyncpg.Connection, tenant_id: str) -> dict[str, Any]:
    found = await conn.fetchval("SELECT config FROM tenants WHERE tenant_id = $1", tenant_id)
    return found or {}


async def list_all(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {_TENANT} FROM tenants ORDER BY tenant_id")


async def upsert(
    conn: asyncpg.Connection, tenant_id: str, name: str | None, config: dict[str, Any]
) -> tuple[asyncpg.Record, bool]:
    """Create the tenant or replace its name and configuration; True when created."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO tenants (tenant_id, name, config) VALUES ($1, $2, $3)
        ON CONFLICT (tenant_id) DO UPDATE
            SET name = EXCLUDED.name, config = EXCLUDED.config, updated_at = now()
        RETURNING {_TENANT}, (xmax = 0) AS created
        """,
        tenant_id,
        name,
        config,
    )
    return row, row["created"]


async def ensure(conn: asyncpg.Connection, tenant_id: str) -> None:
    await conn.execute(
        "INSERT INTO tenants (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING", tenant_id
    )


async def delete(conn: asyncpg.Connection, tenant_id: str) -> bool:
    """Delete the tenant's registration, keys and every row of its data."""
    for table in TENANT_TABLES:
        await conn.execute(f"DELETE FROM {table} WHERE tenant_id = $1", tenant_id)
    status = await conn.execute("DELETE FROM tenants WHERE tenant_id = $1", tenant_id)
    return status != "DELETE 0"


async def insert_key(
    conn: asyncpg.Connection, key_hash: bytes, prefix: str, name: str | None, tenant_id: str | None
) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""
        INSERT INTO api_keys (key_hash, key_prefix, name, tenant_id) VALUES ($1, $2, $3, $4)
        RETURNING {_KEY}
        """,
        key_hash,
        prefix,
        name,
        tenant_id,
    )


async def find_key(conn: asyncpg.Connection, key_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_KEY} FROM api_keys WHERE key_hash = $1", key_hash)


async def list_keys(conn: asyncpg.Connection, tenant_id: str | None) -> list[asyncpg.Record]:
    if tenant_id is None:
        return await conn.fetch(f"SELECT {_KEY} FROM api_keys ORDER BY created_at, key_id")
    return await conn.fetch(
        f"SELECT {_KEY} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, key_id", tenant_id
    )


async def key_hashes(conn: asyncpg.Connection, tenant_id: str) -> list[bytes]:
    rows = await conn.fetch("SELECT key_hash FROM api_keys WHERE tenant_id = $1", tenant_id)
    return [row["key_hash"] for row in rows]


async def delete_key(conn: asyncpg.Connection, key_id: str) -> bytes | None:
    """Delete a key; its hash, or None when there was no such key."""
    return await conn.fetchval(
        "DELETE FROM api_keys WHERE key_id = $1::uuid RETURNING key_hash", key_id
    )
