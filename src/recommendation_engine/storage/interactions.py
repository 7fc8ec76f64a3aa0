"""SQL for interactions. Every statement is scoped by tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from recommendation_engine.models import Interaction
from recommendation_engine.storage.webhooks import UTC_TIME, announcing

_COLUMNS = (
    "id, tenant_id, user_id, entity_type, entity_id, interaction_type, weight, value, "
    "metadata, event_id, occurred_at"
)


@dataclass(slots=True)
class NewInteraction:
    """A validated interaction ready to store (entity type already resolved)."""

    tenant_id: str
    user_id: str
    entity_type: str
    entity_id: str
    interaction_type: str
    weight: float | None
    value: float | None
    metadata: dict[str, Any] | None
    event_id: str | None
    occurred_at: datetime
    recommendation_id: UUID | None = None

    def key(self) -> tuple[Any, ...]:
        return _match_key(self, self.occurred_at)


def _match_key(item: NewInteraction | Interaction, at: datetime) -> tuple[Any, ...]:
    """What pairs an inserted row with the input row it came from."""
    return (
        item.tenant_id,
        item.user_id,
        item.entity_type,
        item.entity_id,
        item.interaction_type,
        item.event_id,
        at,
    )


def _interaction(row: asyncpg.Record) -> Interaction:
    return Interaction(
        id=row["id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        entity_type=row["entity_type"],
        entity_id=row["entity_id"],
        interaction_type=row["interaction_type"],
        weight=row["weight"],
        value=row["value"],
        metadata=row["metadata"] or {},
        event_id=row["event_id"],
        timestamp=row["occurred_at"],
    )


# An interaction as interaction.recorded events show it (its weight as sent).
_EVENT_ITEM = f"""jsonb_build_object(
    'id', w.id, 'user_id', w.user_id, 'entity_id', w.entity_id,
    'entity_type', w.entity_type, 'interaction_type', w.interaction_type,
    'weight', w.weight, 'value', w.value, 'metadata', w.metadata, 'event_id', w.event_id,
    'timestamp', {UTC_TIME.format("w.occurred_at")}, 'tenant_id', w.tenant_id)"""

_INSERT_MANY = f"""
WITH input AS (
    SELECT * FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::float8[], $7::float8[], $8::jsonb[], $9::text[], $10::timestamptz[], $11::uuid[]
    ) AS t(tenant_id, user_id, entity_type, entity_id, interaction_type,
           weight, value, metadata, event_id, occurred_at, recommendation_id)
), written AS (
    INSERT INTO interactions (tenant_id, user_id, entity_type, entity_id, interaction_type,
                              weight, value, metadata, event_id, occurred_at,
                              recommendation_id)
    SELECT i.tenant_id, i.user_id, i.entity_type, i.entity_id, i.interaction_type,
           i.weight, i.value, i.metadata, i.event_id, i.occurred_at, i.recommendation_id
    FROM input i
    WHERE EXISTS (
        SELECT 1 FROM entities e
        WHERE e.tenant_id = i.tenant_id AND e.entity_type = i.entity_type
          AND e.entity_id = i.entity_id
    )
    ON CONFLICT (tenant_id, event_id) WHERE event_id IS NOT NULL DO NOTHING
    RETURNING {_COLUMNS}
){announcing("interaction.recorded", "interactions", _EVENT_ITEM)}"""


async def insert_many(
    conn: asyncpg.Connection, rows: Sequence[NewInteraction]
) -> tuple[list[Interaction | None], bool]:
    """Insert ``rows`` (any tenants) in one statement, which also queues an
    interaction.recorded event per tenant that has a subscription to it.

    Returns, per input row, the stored interaction, or None when the row was not
    inserted (its entity does not exist, or its ``event_id`` was already recorded); and
    whether an event was queued.
    """
    records = await conn.fetch(
        _INSERT_MANY,
        [r.tenant_id for r in rows],
        [r.user_id for r in rows],
        [r.entity_type for r in rows],
        [r.entity_id for r in rows],
        [r.interaction_type for r in rows],
        [r.weight for r in rows],
        [r.value for r in rows],
        [r.metadata for r in rows],
        [r.event_id for r in rows],
        [r.occurred_at for r in rows],
        [r.recommendation_id for r in rows],
    )
    stored: dict[tuple[Any, ...], list[Interaction]] = {}
    for record in records:
        item = _interaction(record)
        stored.setdefault(_match_key(item, item.timestamp), []).append(item)
    result: list[Interaction | None] = []
    for row in rows:
        matches = stored.get(row.key())
        result.append(matches.pop() if matches else None)
    if any(stored.values()):
        # A stored row no input row claims would be acknowledged to no one (and its
        # writer told it was not stored): fail the transaction instead.
        raise RuntimeError("an inserted interaction did not match the row it came from")
    return result, bool(records) and records[0]["announced"] > 0


async def get_by_event_id(
    conn: asyncpg.Connection, tenant_id: str, event_id: str
) -> Interaction | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM interactions WHERE tenant_id = $1 AND event_id = $2",
        tenant_id,
        event_id,
    )
    return _interaction(row) if row else None


_BULK_INSERT = """
INSERT INTO interactions (tenant_id, user_id, entity_type, entity_id, interaction_type,
                          weight, value, metadata, event_id, occurred_at, recommendation_id)
SELECT $1, user_id, entity_type, entity_id, interaction_type,
       weight, value, metadata, event_id, occurred_at, recommendation_id
FROM interactions_staging ORDER BY ord
"""
# Rows whose event_id another transaction stored meanwhile, or that repeat one within
# the request, are left out by the unique index.
_BULK_INSERT_KEYED = (
    _BULK_INSERT + "ON CONFLICT (tenant_id, event_id) WHERE event_id IS NOT NULL DO NOTHING\n"
)


@dataclass(slots=True)
class BulkOutcome:
    inserted: int
    missing_entity: list[int]
    duplicate: list[int]


async def bulk_insert(
    conn: asyncpg.Connection, tenant_id: str, rows: Sequence[tuple[Any, ...]]
) -> BulkOutcome:
    """Insert many interactions of one tenant inside the caller's transaction.

    ``rows`` are ``(ord, user_id, entity_type, entity_id, interaction_type, weight,
    value, metadata, event_id, occurred_at, recommendation_id)``; ``ord`` is the row's
    index in the request.
    Rows whose entity does not exist are reported in ``missing_entity``; rows whose
    ``event_id`` is already stored (a retried import) in ``duplicate``.
    """
    await conn.execute(
        """
        CREATE TEMP TABLE IF NOT EXISTS interactions_staging (
            ord int, user_id text, entity_type text, entity_id text, interaction_type text,
            weight float8, value float8, metadata jsonb, event_id text, occurred_at timestamptz,
            recommendation_id uuid
        ) ON COMMIT DELETE ROWS
        """
    )
    await conn.copy_records_to_table(
        "interactions_staging",
        records=rows,
        columns=[
            "ord",
            "user_id",
            "entity_type",
            "entity_id",
            "interaction_type",
            "weight",
            "value",
            "metadata",
            "event_id",
            "occurred_at",
            "recommendation_id",
        ],
    )
    missing = await conn.fetch(
        """
        DELETE FROM interactions_staging s
        WHERE NOT EXISTS (
            SELECT 1 FROM entities e
            WHERE e.tenant_id = $1 AND e.entity_type = s.entity_type
              AND e.entity_id = s.entity_id
        )
        RETURNING s.ord
        """,
        tenant_id,
    )
    # Rows without an event_id can neither be already stored nor conflict: a request
    # with none of them skips the look-up, and its rows are inserted without ON CONFLICT
    # (which makes PostgreSQL insert each row speculatively and confirm it afterwards).
    keyed = any(row[8] is not None for row in rows)
    duplicate: list[asyncpg.Record] = []
    if keyed:
        duplicate = await conn.fetch(
            """
            DELETE FROM interactions_staging s
            USING interactions i
            WHERE s.event_id IS NOT NULL AND i.tenant_id = $1 AND i.event_id = s.event_id
            RETURNING s.ord
            """,
            tenant_id,
        )
    status = await conn.execute(_BULK_INSERT_KEYED if keyed else _BULK_INSERT, tenant_id)
    return BulkOutcome(
        inserted=int(status.rsplit(" ", 1)[1]),
        missing_entity=sorted(r["ord"] for r in missing),
        duplicate=sorted(r["ord"] for r in duplicate),
    )


async def list_for_user(
    conn: asyncpg.Connection, tenant_id: str, user_id: str, limit: int, offset: int
) -> list[Interaction]:
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM interactions
        WHERE tenant_id = $1 AND user_id = $2
        ORDER BY occurred_at DESC, id DESC LIMIT $3 OFFSET $4
        """,
        tenant_id,
        user_id,
        limit,
        offset,
    )
    return [_interaction(row) for row in rows]


async def list_for_entity(
    conn: asyncpg.Connection,
    tenant_id: str,
    entity_type: str,
    entity_id: str,
    limit: int,
    offset: int,
) -> list[Interaction]:
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM interactions
        WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3
        ORDER BY occurred_at DESC, id DESC LIMIT $4 OFFSET $5
        """,
        tenant_id,
        entity_type,
        entity_id,
        limit,
        offset,
    )
    return [_interaction(row) for row in rows]


async def type_in_use(conn: asyncpg.Connection, tenant_id: str, interaction_type: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM interactions "
            "WHERE tenant_id = $1 AND interaction_type = $2)",
            tenant_id,
            interaction_type,
        )
    )


async def stream(conn: asyncpg.Connection, tenant_id: str) -> AsyncIterator[Interaction]:
    """Every interaction of the tenant in insertion order (needs a transaction)."""
    async for row in conn.cursor(
        f"SELECT {_COLUMNS} FROM interactions WHERE tenant_id = $1 ORDER BY id",
        tenant_id,
        prefetch=1000,
    ):
        yield _interaction(row)
