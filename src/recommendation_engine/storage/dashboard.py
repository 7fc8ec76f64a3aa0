"""SQL the dashboard needs beyond the API's: sign-in sessions, a tenant's counts and
activity, searches over entities and users, model history, evaluation runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

# -- sessions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionRow:
    key_hash: bytes
    csrf_token: str
    expires_at: datetime
    # The tenant of the key as it is now: None for an administrator key, and `key_found`
    # False when the key is no longer stored (revoked, or the environment's key).
    key_tenant_id: str | None
    key_found: bool


async def create_session(
    conn: asyncpg.Connection,
    session_hash: bytes,
    key_hash: bytes,
    tenant_id: str | None,
    csrf_token: str,
    expires_at: datetime,
) -> None:
    await conn.execute("DELETE FROM dashboard_sessions WHERE expires_at < now()")
    await conn.execute(
        "INSERT INTO dashboard_sessions (session_hash, key_hash, tenant_id, csrf_token, "
        "expires_at) VALUES ($1, $2, $3, $4, $5)",
        session_hash,
        key_hash,
        tenant_id,
        csrf_token,
        expires_at,
    )


async def find_session(conn: asyncpg.Connection, session_hash: bytes) -> SessionRow | None:
    """An unexpired session with the key it signed in with, looked up again."""
    row = await conn.fetchrow(
        """
        SELECT s.key_hash, s.csrf_token, s.expires_at, k.tenant_id AS key_tenant_id,
               k.key_hash IS NOT NULL AS key_found
        FROM dashboard_sessions s LEFT JOIN api_keys k ON k.key_hash = s.key_hash
        WHERE s.session_hash = $1 AND s.expires_at > now()
        """,
        session_hash,
    )
    return SessionRow(**dict(row)) if row else None


async def delete_session(conn: asyncpg.Connection, session_hash: bytes) -> None:
    await conn.execute("DELETE FROM dashboard_sessions WHERE session_hash = $1", session_hash)


# -- tenants --------------------------------------------------------------------------


async def tenants_with_data(conn: asyncpg.Connection) -> list[str]:
    """Every tenant that holds an entity (a skip scan over the primary key)."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE t AS (
            (SELECT tenant_id FROM entities ORDER BY tenant_id LIMIT 1)
            UNION ALL
            SELECT (SELECT tenant_id FROM entities WHERE tenant_id > t.tenant_id
                    ORDER BY tenant_id LIMIT 1)
            FROM t WHERE t.tenant_id IS NOT NULL
        )
        SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL
        """
    )
    return [row["tenant_id"] for row in rows]


# -- overview -------------------------------------------------------------------------


async def entity_count(conn: asyncpg.Connection, tenant_id: str) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM entities WHERE tenant_id = $1", tenant_id))


async def interactions_per_minute(
    conn: asyncpg.Connection, tenant_id: str, since: datetime, until: datetime
) -> list[tuple[datetime, int]]:
    """Interactions that happened in each minute of [since, until) that had any."""
    rows = await conn.fetch(
        """
        SELECT date_bin('1 minute', occurred_at, timestamptz 'epoch') AS minute,
               count(*) AS n
        FROM interactions
        WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3
        GROUP BY 1 ORDER BY 1
        """,
        tenant_id,
        since,
        until,
    )
    return [(row["minute"], int(row["n"])) for row in rows]


async def webhook_backlog(conn: asyncpg.Connection, tenant_id: str) -> dict[str, int]:
    """Deliveries waiting to be sent, and those given up in the last day."""
    row = await conn.fetchrow(
        """
        SELECT
          (SELECT count(*) FROM webhook_deliveries
           WHERE tenant_id = $1 AND status = 'pending') AS pending,
          (SELECT count(*) FROM webhook_deliveries
           WHERE tenant_id = $1 AND status = 'failed'
             AND last_attempt_at > now() - interval '1 day') AS failed_last_day
        """,
        tenant_id,
    )
    return {"pending": int(row["pending"]), "failed_last_day": int(row["failed_last_day"])}


# -- entities -------------------------------------------------------------------------


async def entity_types(conn: asyncpg.Connection, tenant_id: str) -> list[str]:
    """The tenant's entity types (a skip scan over the primary key)."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE t AS (
            (SELECT entity_type FROM entities WHERE tenant_id = $1
             ORDER BY entity_type LIMIT 1)
            UNION ALL
            SELECT (SELECT entity_type FROM entities
                    WHERE tenant_id = $1 AND entity_type > t.entity_type
                    ORDER BY entity_type LIMIT 1)
            FROM t WHERE t.entity_type IS NOT NULL
        )
        SELECT entity_type FROM t WHERE entity_type IS NOT NULL
        """,
        tenant_id,
    )
    return [row["entity_type"] for row in rows]


@dataclass(frozen=True, slots=True)
class EntityRow:
    entity_type: str
    entity_id: str
    attributes: dict[str, Any]
    updated_at: datetime


async def search_entities(
    conn: asyncpg.Connection,
    tenant_id: str,
    id_prefix: str | None,
    entity_type: str | None,
    attribute: str | None,
    value: str | None,
    limit: int,
) -> list[EntityRow]:
    """Entities whose id starts with ``id_prefix``, of ``entity_type``, whose attribute
    ``attribute`` equals (or, a list, holds) ``value`` (any attribute when
    ``attribute`` is None), in id order."""
    conditions = ["tenant_id = $1"]
    args: list[Any] = [tenant_id]
    if entity_type:
        args.append(entity_type)
        conditions.append(f"entity_type = ${len(args)}")
    if id_prefix:
        args.append(id_prefix)
        conditions.append(f"starts_with(entity_id, ${len(args)})")
    if value and attribute:
        args += [attribute, value]
        name, wanted = f"${len(args) - 1}", f"${len(args)}"
        conditions.append(
            f"""(e.attributes ->> {name} = {wanted}
                 OR (jsonb_typeof(e.attributes -> {name}) = 'array'
                     AND e.attributes -> {name} ? {wanted}))"""
        )
    elif value:
        args.append(value)
        conditions.append(
            f"""EXISTS (SELECT 1 FROM jsonb_each(e.attributes) AS a(name, v)
                       WHERE a.v #>> '{{}}' = ${len(args)}
                          OR (jsonb_typeof(a.v) = 'array' AND a.v ? ${len(args)}))"""
        )
    args.append(limit)
    rows = await conn.fetch(
        f"""
        SELECT entity_type, entity_id, attributes, updated_at FROM entities e
        WHERE {" AND ".join(conditions)}
        ORDER BY entity_id, entity_type LIMIT ${len(args)}
        """,
        *args,
    )
    return [EntityRow(**dict(row)) for row in rows]


async def entity_interaction_count(
    conn: asyncpg.Connection, tenant_id: str, entity_type: str, entity_id: str
) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM interactions "
            "WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3",
            tenant_id,
            entity_type,
            entity_id,
        )
    )


# -- users ----------------------------------------------------------------------------


async def users_by_prefix(
    conn: asyncpg.Connection, tenant_id: str, prefix: str, limit: int
) -> list[str]:
    """Up to ``limit`` user ids starting with ``prefix``, in order (a skip scan over the
    index by user, so its cost is the number of users found, not their interactions)."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE u AS (
            (SELECT user_id, 1 AS n FROM interactions
             WHERE tenant_id = $1 AND user_id >= $2 ORDER BY user_id LIMIT 1)
            UNION ALL
            SELECT (SELECT user_id FROM interactions
                    WHERE tenant_id = $1 AND user_id > u.user_id ORDER BY user_id LIMIT 1),
                   u.n + 1
            FROM u WHERE u.user_id IS NOT NULL AND u.n < $3
        )
        SELECT user_id FROM u WHERE user_id IS NOT NULL AND starts_with(user_id, $2)
        """,
        tenant_id,
        prefix,
        limit,
    )
    return [row["user_id"] for row in rows]


async def recent_users(conn: asyncpg.Connection, tenant_id: str, limit: int) -> list[str]:
    """Users of the tenant's latest interactions, newest first."""
    rows = await conn.fetch(
        """
        SELECT user_id FROM (
            SELECT user_id, occurred_at FROM interactions
            WHERE tenant_id = $1 AND occurred_at > now() - interval '1 day'
            ORDER BY occurred_at DESC LIMIT 500
        ) latest
        GROUP BY user_id ORDER BY max(occurred_at) DESC LIMIT $2
        """,
        tenant_id,
        limit,
    )
    return [row["user_id"] for row in rows]


async def user_interaction_count(conn: asyncpg.Connection, tenant_id: str, user_id: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM interactions WHERE tenant_id = $1 AND user_id = $2",
            tenant_id,
            user_id,
        )
    )


async def insert_interaction(
    conn: asyncpg.Connection,
    tenant_id: str,
    user_id: str,
    entity_type: str,
    entity_id: str,
    interaction_type: str,
    value: float | None,
) -> bool:
    """Write one interaction on ``conn`` (a what-if preview, in a transaction it rolls
    back); False when the entity does not exist."""
    status = await conn.execute(
        """
        INSERT INTO interactions (tenant_id, user_id, entity_type, entity_id,
                                  interaction_type, value)
        SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (
            SELECT 1 FROM entities WHERE tenant_id = $1 AND entity_type = $3 AND entity_id = $4)
        """,
        tenant_id,
        user_id,
        entity_type,
        entity_id,
        interaction_type,
        value,
    )
    return status == "INSERT 0 1"


# -- models ---------------------------------------------------------------------------


async def model_history(conn: asyncpg.Connection, tenant_id: str, limit: int) -> list[dict]:
    """The latest versions that went live, oldest first."""
    rows = await conn.fetch(
        """
        SELECT * FROM (
            SELECT version, base_version, algorithm, config, started_at, trained_at,
                   published_at, users, items, interactions
            FROM model_history WHERE tenant_id = $1
            ORDER BY version DESC LIMIT $2
        ) latest ORDER BY version
        """,
        tenant_id,
        limit,
    )
    return [dict(row) for row in rows]


async def building_since(conn: asyncpg.Connection, tenant_id: str) -> datetime | None:
    """When the version being built now was started, if one is."""
    return await conn.fetchval(
        "SELECT min(started_at) FROM models WHERE tenant_id = $1 AND state = 'building'",
        tenant_id,
    )


# -- evaluation runs ------------------------------------------------------------------


async def start_evaluation(conn: asyncpg.Connection, tenant_id: str) -> str | None:
    """A new run, unless one of the tenant's is running (and alive) already."""
    return await conn.fetchval(
        """
        INSERT INTO evaluation_runs (tenant_id, state)
        SELECT $1, 'running' WHERE NOT EXISTS (
            SELECT 1 FROM evaluation_runs WHERE tenant_id = $1 AND state = 'running'
              AND updated_at > now() - interval '1 minute')
        RETURNING run_id::text
        """,
        tenant_id,
    )


async def update_evaluation(
    conn: asyncpg.Connection,
    run_id: str,
    steps_done: int,
    steps: int,
    step: str | None,
) -> None:
    await conn.execute(
        "UPDATE evaluation_runs SET steps_done = $2, steps = $3, step = $4, updated_at = now() "
        "WHERE run_id = $1::uuid",
        run_id,
        steps_done,
        steps,
        step,
    )


async def finish_evaluation(
    conn: asyncpg.Connection, run_id: str, report: dict[str, Any] | None, error: str | None
) -> None:
    await conn.execute(
        """
        UPDATE evaluation_runs
        SET state = CASE WHEN $3::text IS NULL THEN 'done' ELSE 'failed' END,
            report = $2, error = $3, updated_at = now(), finished_at = now(),
            steps_done = CASE WHEN $3::text IS NULL THEN steps ELSE steps_done END
        WHERE run_id = $1::uuid
        """,
        run_id,
        report,
        error,
    )


_RUN = (
    "run_id::text AS run_id, state, steps_done, steps, step, report, error, started_at, "
    "updated_at, finished_at"
)


async def evaluation(conn: asyncpg.Connection, tenant_id: str, run_id: str) -> dict | None:
    row = await conn.fetchrow(
        f"SELECT {_RUN} FROM evaluation_runs WHERE tenant_id = $1 AND run_id = $2::uuid",
        tenant_id,
        run_id,
    )
    return dict(row) if row else None


async def evaluations(conn: asyncpg.Connection, tenant_id: str, limit: int) -> list[dict]:
    rows = await conn.fetch(
        f"SELECT {_RUN} FROM evaluation_runs WHERE tenant_id = $1 "
        "ORDER BY started_at DESC LIMIT $2",
        tenant_id,
        limit,
    )
    return [dict(row) for row in rows]


async def registered_tenants(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT tenant_id FROM tenants ORDER BY tenant_id")
    return [row["tenant_id"] for row in rows]
