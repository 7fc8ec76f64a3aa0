"""SQL for experiments. Every statement is scoped by tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

_COLUMNS = (
    "id, tenant_id, name, route, state, salt, variants, click_types, conversion_types, "
    "planned_users_per_variant, created_at, started_at, stopped_at"
)


@dataclass(frozen=True, slots=True)
class ExperimentRow:
    id: UUID
    tenant_id: str
    name: str
    route: str
    state: str
    salt: str
    variants: list[dict[str, Any]]
    click_types: list[str]
    conversion_types: list[str]
    planned_users_per_variant: int | None
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None


def _row(record: asyncpg.Record) -> ExperimentRow:
    return ExperimentRow(**dict(record))


async def insert(
    conn: asyncpg.Connection,
    tenant_id: str,
    name: str,
    route: str,
    salt: str,
    variants: list[dict[str, Any]],
    click_types: list[str],
    conversion_types: list[str],
    planned_users_per_variant: int | None,
) -> ExperimentRow:
    record = await conn.fetchrow(
        f"""
        INSERT INTO experiments (tenant_id, name, route, salt, variants, click_types,
                                 conversion_types, planned_users_per_variant)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        RETURNING {_COLUMNS}
        """,
        tenant_id,
        name,
        route,
        salt,
        variants,
        click_types,
        conversion_types,
        planned_users_per_variant,
    )
    return _row(record)


async def get(
    conn: asyncpg.Connection, tenant_id: str, experiment_id: UUID
) -> ExperimentRow | None:
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM experiments WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        experiment_id,
    )
    return _row(record) if record else None


async def list_all(conn: asyncpg.Connection, tenant_id: str) -> list[ExperimentRow]:
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM experiments WHERE tenant_id = $1 ORDER BY created_at DESC, id",
        tenant_id,
    )
    return [_row(r) for r in records]


async def running(conn: asyncpg.Connection, tenant_id: str) -> list[ExperimentRow]:
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM experiments WHERE tenant_id = $1 AND state = 'running'",
        tenant_id,
    )
    return [_row(r) for r in records]


async def lock_tenant(conn: asyncpg.Connection, tenant_id: str) -> None:
    """Serialise state changes of the tenant's experiments (inside a transaction)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 15))", tenant_id)


async def set_state(
    conn: asyncpg.Connection, tenant_id: str, experiment_id: UUID, state: str
) -> ExperimentRow:
    stamp = "started_at" if state == "running" else "stopped_at"
    record = await conn.fetchrow(
        f"""
        UPDATE experiments SET state = $3, {stamp} = now()
        WHERE tenant_id = $1 AND id = $2
        RETURNING {_COLUMNS}
        """,
        tenant_id,
        experiment_id,
        state,
    )
    return _row(record)


async def delete(conn: asyncpg.Connection, tenant_id: str, experiment_id: UUID) -> bool:
    status = await conn.execute(
        "DELETE FROM experiments WHERE tenant_id = $1 AND id = $2", tenant_id, experiment_id
    )
    return status.endswith(" 1")
