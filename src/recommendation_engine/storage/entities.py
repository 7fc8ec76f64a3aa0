"""SQL for entities. Every statement is scoped by tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import numpy as np

from recommendation_engine.models import Entity
from recommendation_engine.storage.filters import attribute_filter
from recommendation_engine.storage.webhooks import announcing

_EMPTY = np.zeros(0, dtype=np.float32)
_COLUMNS = "tenant_id, entity_type, entity_id, attributes, feature_vector, created_at, updated_at"


def _entity(row: asyncpg.Record) -> Entity:
    vector = row["feature_vector"]
    return Entity(
        tenant_id=row["tenant_id"],
        entity_type=row["entity_type"],
        entity_id=row["entity_id"],
        attributes=row["attributes"],
        feature_vector=vector.to_numpy() if vector is not None else _EMPTY,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# An entity as entity.created and entity.updated events show it.
_EVENT_ITEM = (
    "jsonb_build_object('entity_type', w.entity_type, 'entity_id', w.entity_id, "
    "'attributes', w.attributes)"
)
_GONE_ITEM = "jsonb_build_object('entity_type', w.entity_type, 'entity_id', w.entity_id)"

# After a CTE named ``written`` (rows changed or deleted by the same statement): moves
# the tenant's catalogue generation on when there are any, so that every replica stops
# trusting the entity rows it keeps (service.entity_rows). A new entity needs no move:
# replicas keep only entities that exist.
_CATALOGUE_CHANGED = """,
catalogue AS (
    INSERT INTO catalogue_generations AS g (tenant_id, generation)
    SELECT DISTINCT w.tenant_id, 1 FROM written w {where}
    ON CONFLICT (tenant_id) DO UPDATE SET generation = g.generation + 1
)"""


async def insert(
    conn: asyncpg.Connection,
    tenant_id: str,
    entity_type: str,
    entity_id: str,
    attributes: dict[str, Any],
    vector: np.ndarray,
) -> tuple[Entity | None, bool]:
    """Insert a new entity, queueing entity.created for the tenant's subscriptions in the
    same statement. None when (tenant, type, id) exists already; and whether an event
    was queued."""
    row = await conn.fetchrow(
        f"""
        WITH written AS (
            INSERT INTO entities (tenant_id, entity_type, entity_id, attributes, feature_vector)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT DO NOTHING
            RETURNING {_COLUMNS}
        ){announcing("entity.created", "entities", _EVENT_ITEM)}""",
        tenant_id,
        entity_type,
        entity_id,
        attributes,
        vector,
    )
    return (_entity(row), row["announced"] > 0) if row else (None, False)


async def update(
    conn: asyncpg.Connection,
    tenant_id: str,
    entity_type: str,
    entity_id: str,
    attributes: dict[str, Any],
    vector: np.ndarray,
) -> tuple[Entity | None, bool]:
    """Replace an entity's attributes and vector, queueing entity.updated in the same
    statement. None when it does not exist; and whether an event was queued."""
    row = await conn.fetchrow(
        f"""
        WITH written AS (
            UPDATE entities
            SET attributes = $4, feature_vector = $5, indexed = false, updated_at = now()
            WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3
            RETURNING {_COLUMNS}
        ){_CATALOGUE_CHANGED.format(where="")}{
            announcing("entity.updated", "entities", _EVENT_ITEM)
        }""",
        tenant_id,
        entity_type,
        entity_id,
        attributes,
        vector,
    )
    return (_entity(row), row["announced"] > 0) if row else (None, False)


async def get(
    conn: asyncpg.Connection, tenant_id: str, entity_type: str, entity_id: str
) -> Entity | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM entities "
        "WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3",
        tenant_id,
        entity_type,
        entity_id,
    )
    return _entity(row) if row else None


async def types_of(conn: asyncpg.Connection, tenant_id: str, entity_id: str) -> list[str]:
    """The entity types under which ``entity_id`` exists in the tenant (at most two read)."""
    rows = await conn.fetch(
        "SELECT entity_type FROM entities WHERE tenant_id = $1 AND entity_id = $2 LIMIT 2",
        tenant_id,
        entity_id,
    )
    return [row["entity_type"] for row in rows]


async def types_by_id(
    conn: asyncpg.Connection, tenant_id: str, entity_ids: Sequence[str]
) -> dict[str, list[str]]:
    """For each id, the entity types it exists under in the tenant."""
    rows = await conn.fetch(
        "SELECT entity_id, array_agg(entity_type) AS types FROM entities "
        "WHERE tenant_id = $1 AND entity_id = ANY($2::text[]) GROUP BY entity_id",
        tenant_id,
        list(entity_ids),
    )
    return {row["entity_id"]: list(row["types"]) for row in rows}


async def attributes_by_key(
    conn: asyncpg.Connection,
    tenant_id: str,
    keys: Sequence[tuple[str, str]],
    filters: dict[str, str] | None = None,
) -> dict[tuple[str, str], dict[str, Any]]:
    """Attributes of the existing entities among ``keys`` (type, id) that match
    ``filters``."""
    rows = await conn.fetch(
        f"""
        SELECT e.entity_type, e.entity_id, e.attributes
        FROM unnest($2::text[], $3::text[]) AS k(entity_type, entity_id)
        JOIN entities e ON e.tenant_id = $1 AND e.entity_type = k.entity_type
                       AND e.entity_id = k.entity_id
        WHERE {attribute_filter("e", "$4", "$5")}
        """,
        tenant_id,
        [k[0] for k in keys],
        [k[1] for k in keys],
        list(filters or {}),
        list((filters or {}).values()),
    )
    return {(r["entity_type"], r["entity_id"]): r["attributes"] for r in rows}


async def delete(
    conn: asyncpg.Connection, tenant_id: str, entity_type: str, entity_id: str
) -> tuple[bool, bool]:
    """Delete an entity (its interactions go with it, and the tenant's interaction counts
    are worked out again at the next trending fold), queueing entity.deleted in the same
    statement; whether it existed, and whether an event was queued."""
    row = await conn.fetchrow(
        f"""
        WITH written AS (
            DELETE FROM entities WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3
            RETURNING tenant_id, entity_type, entity_id
        ), recount AS (
            INSERT INTO interaction_recounts SELECT tenant_id FROM written
            ON CONFLICT DO NOTHING
        ){_CATALOGUE_CHANGED.format(where="")}{
            announcing("entity.deleted", "entities", _GONE_ITEM)
        }""",
        tenant_id,
        entity_type,
        entity_id,
    )
    return (True, row["announced"] > 0) if row else (False, False)


async def upsert_many(
    conn: asyncpg.Connection,
    tenant_id: str,
    rows: Sequence[tuple[str, str, dict[str, Any], np.ndarray]],
) -> list[tuple[str, str, bool]]:
    """Insert or replace ``(entity_type, entity_id, attributes, vector)`` rows.

    Returns ``(entity_type, entity_id, created)`` per row. Rows must not repeat a key.
    """
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS entities_staging "
        "(entity_type text, entity_id text, attributes jsonb, feature_vector vector) "
        "ON COMMIT DELETE ROWS"
    )
    await conn.copy_records_to_table(
        "entities_staging",
        records=rows,
        columns=["entity_type", "entity_id", "attributes", "feature_vector"],
    )
    written = await conn.fetch(
        f"""
        WITH written AS (
            INSERT INTO entities AS e
                (tenant_id, entity_type, entity_id, attributes, feature_vector)
            SELECT $1, entity_type, entity_id, attributes, feature_vector
            FROM entities_staging
            ON CONFLICT (tenant_id, entity_type, entity_id) DO UPDATE
                SET attributes = EXCLUDED.attributes,
                    feature_vector = EXCLUDED.feature_vector,
                    indexed = false,
                    updated_at = now()
            RETURNING tenant_id, entity_type, entity_id, (xmax = 0) AS inserted
        ){_CATALOGUE_CHANGED.format(where="WHERE NOT w.inserted")}
        SELECT entity_type, entity_id, inserted FROM written
        """,
        tenant_id,
    )
    return [(row["entity_type"], row["entity_id"], row["inserted"]) for row in written]


async def stream(conn: asyncpg.Connection, tenant_id: str) -> AsyncIterator[Entity]:
    """Every entity of the tenant, read through a server-side cursor (needs a transaction)."""
    async for row in conn.cursor(
        f"SELECT {_COLUMNS} FROM entities WHERE tenant_id = $1 ORDER BY entity_type, entity_id",
        tenant_id,
        prefetch=500,
    ):
        yield _entity(row)


async def index_pending(conn: asyncpg.Connection, limit: int) -> int:
    """Move up to ``limit`` pending entities into the vector index; returns how many.

    Rows locked by a writer or another replica's indexer are skipped, not waited for.
    """
    status = await conn.execute(
        """
        UPDATE entities SET indexed = true
        WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM entities WHERE NOT indexed LIMIT $1
            FOR NO KEY UPDATE SKIP LOCKED
        ))
        """,
        limit,
    )
    return int(status.rsplit(" ", 1)[1])


async def pending_keys(conn: asyncpg.Connection, limit: int) -> list[tuple[str, str, str]]:
    """Up to ``limit`` pending entities, locked for this transaction (others skipped)."""
    rows = await conn.fetch(
        "SELECT tenant_id, entity_type, entity_id FROM entities WHERE NOT indexed "
        "LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED",
        limit,
    )
    return [(r["tenant_id"], r["entity_type"], r["entity_id"]) for r in rows]


async def mark_indexed(
    conn: asyncpg.Connection, key: tuple[str, str, str], indexed: bool | None
) -> None:
    """Index one entity's vector (True), or set it aside as unindexable (None)."""
    await conn.execute(
        "UPDATE entities SET indexed = $4 "
        "WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3",
        *key,
        indexed,
    )


async def count_pending(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM entities WHERE NOT indexed")
