"""SQL for a tenant's interaction types (custom types and overridden built-in weights)."""

from __future__ import annotations

import asyncpg


async def list_stored(conn: asyncpg.Connection, tenant_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT interaction_type, default_weight, description FROM interaction_types "
        "WHERE tenant_id = $1 ORDER BY interaction_type",
        tenant_id,
    )


async def insert(
    conn: asyncpg.Connection, tenant_id: str, name: str, weight: float, description: str | None
) -> bool:
    status = await conn.execute(
        "INSERT INTO interaction_types (tenant_id, interaction_type, default_weight, description) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        tenant_id,
        name,
        weight,
        description,
    )
    return status == "INSERT 0 1"


async def upsert(
    conn: asyncpg.Connection, tenant_id: str, name: str, weight: float, description: str | None
) -> None:
    await conn.execute(
        """
        INSERT INTO interaction_types (tenant_id, interaction_type, default_weight, description)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (tenant_id, interaction_type) DO UPDATE
            SET default_weight = EXCLUDED.default_weight,
                description = coalesce(EXCLUDED.description, interaction_types.description),
                updated_at = now()
        """,
        tenant_id,
        name,
        weight,
        description,
    )


async def delete(conn: asyncpg.Connection, tenant_id: str, name: str) -> bool:
    status = await conn.execute(
        "DELETE FROM interaction_types WHERE tenant_id = $1 AND interaction_type = $2",
        tenant_id,
        name,
    )
    return status != "DELETE 0"
