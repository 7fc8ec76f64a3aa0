"""SQL for webhook subscriptions, the event outbox and deliveries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import asyncpg

_WEBHOOK = (
    "webhook_id::text AS webhook_id, tenant_id, url, events, active, description, "
    "created_at, updated_at"
)
_DELIVERY = (
    "d.delivery_id, d.event_id, e.event, d.status, d.attempts, d.response_status, d.error, "
    "d.created_at, d.last_attempt_at, d.next_attempt_at, d.delivered_at"
)


# -- subscriptions ----------------------------------------------------------------------


async def insert(
    conn: asyncpg.Connection,
    tenant_id: str,
    url: str,
    events: list[str],
    secret: str,
    active: bool,
    description: str | None,
) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""
        INSERT INTO webhooks (tenant_id, url, events, secret, active, description)
        VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_WEBHOOK}
        """,
        tenant_id,
        url,
        events,
        secret,
        active,
        description,
    )


async def update(
    conn: asyncpg.Connection,
    tenant_id: str,
    webhook_id: str,
    url: str,
    events: list[str],
    secret: str | None,
    active: bool,
    description: str | None,
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""
        UPDATE webhooks SET url = $3, events = $4, secret = coalesce($5, secret),
                            active = $6, description = $7, updated_at = now()
        WHERE tenant_id = $1 AND webhook_id = $2::uuid
        RETURNING {_WEBHOOK}
        """,
        tenant_id,
        webhook_id,
        url,
        events,
        secret,
        active,
        description,
    )


async def get(conn: asyncpg.Connection, tenant_id: str, webhook_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_WEBHOOK} FROM webhooks WHERE tenant_id = $1 AND webhook_id = $2::uuid",
        tenant_id,
        webhook_id,
    )


async def list_all(conn: asyncpg.Connection, tenant_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_WEBHOOK} FROM webhooks WHERE tenant_id = $1 ORDER BY created_at, webhook_id",
        tenant_id,
    )


async def delete(conn: asyncpg.Connection, tenant_id: str, webhook_id: str) -> bool:
    status = await conn.execute(
        "DELETE FROM webhooks WHERE tenant_id = $1 AND webhook_id = $2::uuid",
        tenant_id,
        webhook_id,
    )
    return status != "DELETE 0"


# -- the outbox -------------------------------------------------------------------------


def announcing(event: str, key: str, item: str) -> str:
    """SQL to follow a CTE named ``written`` (rows written by the same statement, with
    their ``tenant_id``): for each tenant among them with an active subscription to
    ``event``, one event ``{key: [item, ...]}`` (``item``: an expression over the row
    ``w``) and its deliveries. The statement then ends with
    ``SELECT w.*, (SELECT count(*) FROM announced) AS announced FROM written w``.

    The event commits or rolls back with the change in one statement, and a tenant
    without subscriptions pays only an index probe for it."""
    subscribed = f"h.tenant_id = {{}} AND h.active AND h.events @> ARRAY['{event}']"
    return f""",
announced AS (
    INSERT INTO webhook_events (tenant_id, event, data)
    SELECT w.tenant_id, '{event}', jsonb_build_object('{key}', jsonb_agg({item}))
    FROM written w
    WHERE EXISTS (SELECT 1 FROM webhooks h WHERE {subscribed.format("w.tenant_id")})
    GROUP BY w.tenant_id
    RETURNING event_id, tenant_id
), queued AS (
    INSERT INTO webhook_deliveries (webhook_id, event_id, tenant_id)
    SELECT h.webhook_id, a.event_id, a.tenant_id
    FROM announced a JOIN webhooks h ON {subscribed.format("a.tenant_id")}
)
SELECT w.*, (SELECT count(*) FROM announced) AS announced FROM written w
"""


# An event's timestamps, as the API writes them.
UTC_TIME = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


async def subscribed(conn: asyncpg.Connection, tenant_ids: Iterable[str]) -> set[tuple[str, str]]:
    """The (tenant, event) pairs some active subscription of these tenants wants."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT tenant_id, unnest(events) AS event FROM webhooks
        WHERE tenant_id = ANY($1::text[]) AND active
        """,
        list(tenant_ids),
    )
    return {(row["tenant_id"], row["event"]) for row in rows}


async def add_event(
    conn: asyncpg.Connection, tenant_id: str, event: str, data: dict[str, Any]
) -> int:
    """Store an event with a pending delivery for each active subscription to it; the
    number of deliveries. Runs inside the transaction of the change the event reports."""
    return await conn.fetchval(
        """
        WITH stored AS (
            INSERT INTO webhook_events (tenant_id, event, data) VALUES ($1, $2, $3)
            RETURNING event_id
        ), queued AS (
            INSERT INTO webhook_deliveries (webhook_id, event_id, tenant_id)
            SELECT w.webhook_id, stored.event_id, $1 FROM webhooks w, stored
            WHERE w.tenant_id = $1 AND w.active AND $2 = ANY(w.events)
            RETURNING 1
        )
        SELECT count(*) FROM queued
        """,
        tenant_id,
        event,
        data,
    )


# -- deliveries -------------------------------------------------------------------------


async def claim_due(conn: asyncpg.Connection, limit: int, lease: timedelta) -> list[asyncpg.Record]:
    """Take up to ``limit`` due deliveries of active subscriptions, oldest first. Each is
    leased: if this process dies before recording the outcome, it is due again when the
    lease runs out. Replicas never take the same delivery."""
    return await conn.fetch(
        """
        WITH due AS (
            SELECT d.delivery_id FROM webhook_deliveries d
            JOIN webhooks w USING (webhook_id)
            WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND w.active
            ORDER BY d.next_attempt_at
            LIMIT $1
            FOR UPDATE OF d SKIP LOCKED
        )
        UPDATE webhook_deliveries d
        SET attempts = d.attempts + 1, last_attempt_at = now(), next_attempt_at = now() + $2
        FROM due, webhooks w, webhook_events e
        WHERE d.delivery_id = due.delivery_id AND w.webhook_id = d.webhook_id
          AND e.event_id = d.event_id
        RETURNING d.delivery_id, d.attempts, d.tenant_id, w.url, w.secret, e.event_id,
                  e.event, e.data, e.created_at
        """,
        limit,
        lease,
    )


async def record_success(conn: asyncpg.Connection, delivery_id: int, status: int) -> None:
    await conn.execute(
        """
        UPDATE webhook_deliveries
        SET status = 'delivered', response_status = $2, error = NULL, delivered_at = now()
        WHERE delivery_id = $1
        """,
        delivery_id,
        status,
    )


async def record_failure(
    conn: asyncpg.Connection,
    delivery_id: int,
    status: int | None,
    error: str,
    retry_in: timedelta | None,
) -> None:
    """A failed attempt: retried after ``retry_in``, or given up when that is None."""
    await conn.execute(
        """
        UPDATE webhook_deliveries
        SET response_status = $2, error = $3,
            status = CASE WHEN $4::interval IS NULL THEN 'failed' ELSE 'pending' END,
            next_attempt_at = CASE WHEN $4::interval IS NULL THEN next_attempt_at
                                   ELSE now() + $4::interval END
        WHERE delivery_id = $1
        """,
        delivery_id,
        status,
        error[:1000],
        retry_in,
    )


async def release(conn: asyncpg.Connection, delivery_ids: list[int]) -> None:
    """Make leased deliveries due at once (their attempts were cut short by a stop)."""
    await conn.execute(
        """
        UPDATE webhook_deliveries SET next_attempt_at = now(), attempts = attempts - 1
        WHERE delivery_id = ANY($1::bigint[]) AND status = 'pending'
        """,
        delivery_ids,
    )


async def list_deliveries(
    conn: asyncpg.Connection,
    tenant_id: str,
    webhook_id: str,
    status: str | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        SELECT {_DELIVERY} FROM webhook_deliveries d JOIN webhook_events e USING (event_id)
        WHERE d.tenant_id = $1 AND d.webhook_id = $2::uuid AND ($3::text IS NULL OR d.status = $3)
        ORDER BY d.delivery_id DESC LIMIT $4 OFFSET $5
        """,
        tenant_id,
        webhook_id,
        status,
        limit,
        offset,
    )


async def redeliver(
    conn: asyncpg.Connection, tenant_id: str, webhook_id: str, delivery_id: int
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""
        WITH again AS (
            UPDATE webhook_deliveries
            SET status = 'pending', attempts = 0, next_attempt_at = now(), error = NULL,
                response_status = NULL, delivered_at = NULL
            WHERE tenant_id = $1 AND webhook_id = $2::uuid AND delivery_id = $3
            RETURNING *
        )
        SELECT {_DELIVERY} FROM again d JOIN webhook_events e USING (event_id)
        """,
        tenant_id,
        webhook_id,
        delivery_id,
    )


async def prune(conn: asyncpg.Connection, older_than: timedelta) -> None:
    """Forget finished deliveries older than ``older_than`` and events nobody awaits."""
    await conn.execute(
        "DELETE FROM webhook_deliveries "
        "WHERE status <> 'pending' AND created_at < now() - $1::interval",
        older_than,
    )
    await conn.execute(
        """
        DELETE FROM webhook_events e WHERE e.created_at < now() - $1::interval
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.event_id)
        """,
        older_than,
    )
