"""SQL for impressions and for attributing interactions to them. Every statement is
scoped by tenant.

An interaction is attributed to an impression (a recommendation answer that was shown)
when the impression showed the interaction's entity and either the interaction names
its ``recommendation_id``, or, without one, it is the user's latest impression showing
that entity at most ``window`` before the interaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

COLUMNS = (
    "tenant_id",
    "recommendation_id",
    "user_id",
    "experiment_id",
    "variant",
    "route",
    "algorithm",
    "entity_types",
    "entity_ids",
    "shown_at",
)

# What attribution reads of an interaction (`i`).
_ACT_COLUMNS = (
    "i.user_id, i.entity_type, i.entity_id, i.interaction_type, i.weight, i.value, "
    "i.occurred_at, i.recommendation_id"
)
# Needs a CTE `acts` of interactions (`_ACT_COLUMNS`); $1 is the tenant, $2 the window in seconds.
_ATTRIBUTED = """
attributed AS (
    SELECT a.user_id, a.interaction_type, a.weight, a.value,
           p.recommendation_id AS rid, p.experiment_id, p.variant
    FROM acts a
    CROSS JOIN LATERAL (
        SELECT p.recommendation_id, p.experiment_id, p.variant FROM impressions p
        WHERE a.recommendation_id IS NOT NULL AND p.tenant_id = $1
          AND p.recommendation_id = a.recommendation_id
          AND EXISTS (SELECT 1 FROM unnest(p.entity_types, p.entity_ids) s(t, e)
                      WHERE s.t = a.entity_type AND s.e = a.entity_id)
        UNION ALL
        (SELECT p.recommendation_id, p.experiment_id, p.variant FROM impressions p
         WHERE a.recommendation_id IS NULL AND p.tenant_id = $1 AND p.user_id = a.user_id
           AND p.shown_at <= a.occurred_at
           AND p.shown_at > a.occurred_at - make_interval(secs => $2)
           AND a.entity_id = ANY (p.entity_ids)
           AND EXISTS (SELECT 1 FROM unnest(p.entity_types, p.entity_ids) s(t, e)
                       WHERE s.t = a.entity_type AND s.e = a.entity_id)
         ORDER BY p.shown_at DESC LIMIT 1)
    ) p
)"""


async def write(conn: asyncpg.Connection, rows: Sequence[tuple[object, ...]]) -> None:
    """Store impressions (tuples in the order of `COLUMNS`) in one COPY."""
    await conn.copy_records_to_table("impressions", records=rows, columns=list(COLUMNS))


async def prune(conn: asyncpg.Connection, older_than: timedelta, batch: int = 10_000) -> int:
    """Delete up to ``batch`` impressions (of any tenant) shown more than ``older_than``
    ago; how many were deleted."""
    status = await conn.execute(
        """
        DELETE FROM impressions WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM impressions WHERE shown_at < now() - $1::interval LIMIT $2
        ))
        """,
        older_than,
        batch,
    )
    return int(status.rsplit(" ", 1)[1])


@dataclass(slots=True)
class ExperimentData:
    """An experiment's impressions per user, and the interactions attributed to them."""

    users: list[asyncpg.Record]  # variant, user_id, impressions
    attributed: list[asyncpg.Record]  # variant, user_id, rid, interaction_type, weight, value


async def experiment_data(
    conn: asyncpg.Connection,
    tenant_id: str,
    experiment_id: UUID,
    window_seconds: float,
    types: list[str],
) -> ExperimentData:
    users = await conn.fetch(
        """
        SELECT coalesce(variant, 'control') AS variant, user_id, count(*) AS impressions
        FROM impressions
        WHERE tenant_id = $1 AND experiment_id = $2 AND user_id IS NOT NULL
        GROUP BY 1, 2
        """,
        tenant_id,
        experiment_id,
    )
    if not users:
        return ExperimentData([], [])
    attributed = await conn.fetch(
        f"""
        WITH acts AS (
            SELECT {_ACT_COLUMNS} FROM interactions i
            WHERE i.tenant_id = $1 AND i.interaction_type = ANY ($4::text[])
              AND i.user_id IN (SELECT DISTINCT user_id FROM impressions
                                WHERE tenant_id = $1 AND experiment_id = $3)
              AND i.occurred_at >= (SELECT min(shown_at) FROM impressions
                                    WHERE tenant_id = $1 AND experiment_id = $3)
        ), {_ATTRIBUTED}
        SELECT coalesce(variant, 'control') AS variant, user_id, rid, interaction_type,
               weight, value
        FROM attributed WHERE experiment_id = $3
        """,
        tenant_id,
        window_seconds,
        experiment_id,
        types,
    )
    return ExperimentData(users, attributed)


@dataclass(frozen=True, slots=True)
class OnlineRow:
    bucket: datetime
    route: str
    algorithm: str
    impressions: int
    clicked: int
    converted: int


async def online(
    conn: asyncpg.Connection,
    tenant_id: str,
    window_seconds: float,
    since: datetime,
    bucket: str,
    click_types: list[str],
    conversion_types: list[str],
) -> list[OnlineRow]:
    """Impressions since ``since`` by time bucket ("hour" or "day", UTC), route and
    algorithm, with how many had a click and a conversion attributed to them."""
    records = await conn.fetch(
        f"""
        WITH acts AS (
            SELECT {_ACT_COLUMNS} FROM interactions i
            WHERE i.tenant_id = $1 AND i.occurred_at >= $3
              AND i.interaction_type = ANY ($5::text[] || $6::text[])
        ), {_ATTRIBUTED},
        outcome AS (
            SELECT rid, bool_or(interaction_type = ANY ($5::text[])) AS clicked,
                   bool_or(interaction_type = ANY ($6::text[])) AS converted
            FROM attributed GROUP BY rid
        )
        SELECT date_trunc($4, p.shown_at, 'UTC') AS bucket, p.route, p.algorithm,
               count(*) AS impressions,
               count(*) FILTER (WHERE o.clicked) AS clicked,
               count(*) FILTER (WHERE o.converted) AS converted
        FROM impressions p LEFT JOIN outcome o ON o.rid = p.recommendation_id
        WHERE p.tenant_id = $1 AND p.shown_at >= $3
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """,
        tenant_id,
        window_seconds,
        since,
        bucket,
        click_types,
        conversion_types,
    )
    return [OnlineRow(**dict(r)) for r in records]
