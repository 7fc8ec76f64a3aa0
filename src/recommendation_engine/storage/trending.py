"""SQL for trending: a daily per-entity aggregate of interaction weight, and lists.

The aggregate is folded forward from the interaction table by id (a watermark), so no
request ever reads raw interactions. A trending score is the sum of an entity's daily
weights within the window, each decayed by its age: ``exp(-ln 2 * age / half_life)``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg

from recommendation_engine import metrics
from recommendation_engine.models import MAX_WEIGHT
from recommendation_engine.storage.filters import attribute_filter

logger = logging.getLogger(__name__)

# Interaction ids folded into the daily aggregate per statement.
FOLD_CHUNK_IDS = 500_000


async def fold(
    conn: asyncpg.Connection,
    tenant_id: str,
    type_names: Sequence[str],
    type_weights: Sequence[float],
    settle_seconds: float = 0.0,
) -> int:
    """Add interactions newer than the watermark to the daily aggregate and to the
    tenant's counts (in a transaction).

    Only rows stored at least ``settle_seconds`` ago are folded: identity values are
    handed out before commit, so a slow transaction can commit a smaller id after a
    larger one, and the watermark must not pass it by. Returns how many were folded in.
    """
    await conn.execute(
        "INSERT INTO trending_state (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING", tenant_id
    )
    start = await conn.fetchval(
        "SELECT last_interaction_id FROM trending_state WHERE tenant_id = $1 FOR UPDATE",
        tenant_id,
    )
    end = await conn.fetchval(
        "SELECT greatest(coalesce(max(id), 0), $2) FROM interactions WHERE tenant_id = $1 "
        "AND id > $2 AND created_at <= now() - make_interval(secs => $3)",
        tenant_id,
        start,
        settle_seconds,
    )
    folded = interactions = users = 0
    # A range of ids at a time, so that a large backlog (a bulk import) is folded in
    # statements that each finish well within the command timeout.
    for low in range(start, end, FOLD_CHUNK_IDS):
        counts = await _fold_range(
            conn, tenant_id, low, min(low + FOLD_CHUNK_IDS, end), type_names, type_weights
        )
        folded += counts["folded"]
        interactions += counts["interactions"]
        users += counts["users"]
    await conn.execute(
        "UPDATE trending_state SET last_interaction_id = $2, interactions = interactions + $3, "
        "users = users + $4 WHERE tenant_id = $1",
        tenant_id,
        end,
        interactions,
        users,
    )
    recount = await conn.fetchval(
        "DELETE FROM interaction_recounts WHERE tenant_id = $1 RETURNING true", tenant_id
    )
    if recount:
        await _recount(conn, tenant_id, end)
    return folded


async def _recount(conn: asyncpg.Connection, tenant_id: str, end: int) -> None:
    """Work the counts out again from the interactions up to ``end`` (one pass)."""
    await conn.execute(
        """
        DELETE FROM interaction_users u WHERE u.tenant_id = $1 AND NOT EXISTS (
            SELECT 1 FROM interactions i
            WHERE i.tenant_id = $1 AND i.user_id = u.user_id AND i.id <= $2)
        """,
        tenant_id,
        end,
    )
    await conn.execute(
        """
        INSERT INTO interaction_users (tenant_id, user_id)
        SELECT DISTINCT $1, user_id FROM interactions WHERE tenant_id = $1 AND id <= $2
        ON CONFLICT DO NOTHING
        """,
        tenant_id,
        end,
    )
    await conn.execute(
        """
        UPDATE trending_state SET
            interactions = (SELECT count(*) FROM interactions
                            WHERE tenant_id = $1 AND id <= $2),
            users = (SELECT count(*) FROM interaction_users WHERE tenant_id = $1)
        WHERE tenant_id = $1
        """,
        tenant_id,
        end,
    )


async def counts(conn: asyncpg.Connection, tenant_id: str) -> tuple[int, int]:
    """Distinct users and interactions of the tenant: the fold's counts and the few
    interactions stored since (one pass over all of them when no fold has counted)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        state = await conn.fetchrow(
            "SELECT last_interaction_id, interactions, users FROM trending_state s "
            "WHERE tenant_id = $1 AND NOT EXISTS "
            "(SELECT 1 FROM interaction_recounts r WHERE r.tenant_id = $1)",
            tenant_id,
        )
        if state is None:
            row = await conn.fetchrow(
                """
                SELECT count(*) AS users, coalesce(sum(n), 0)::bigint AS interactions
                FROM (SELECT user_id, count(*) AS n FROM interactions WHERE tenant_id = $1
                      GROUP BY user_id) per_user
                """,
                tenant_id,
            )
            return int(row["users"]), int(row["interactions"])
        tail = await conn.fetchrow(
            """
            SELECT count(*) AS interactions,
                   count(DISTINCT i.user_id) FILTER (WHERE NOT EXISTS (
                       SELECT 1 FROM interaction_users u
                       WHERE u.tenant_id = $1 AND u.user_id = i.user_id)) AS users
            FROM interactions i WHERE i.tenant_id = $1 AND i.id > $2
            """,
            tenant_id,
            state["last_interaction_id"],
        )
    return (
        int(state["users"] + tail["users"]),
        int(state["interactions"] + tail["interactions"]),
    )


# An interaction's weight as models.effective_weight gives it: NULL when a factor is not a
# finite number within +-$6 (abs(NaN) compares above every number), so that a row stored
# before the range was enforced counts for nothing instead of overflowing the sum.
_EFFECTIVE_WEIGHT = """
CASE WHEN i.weight IS NOT NULL THEN CASE WHEN abs(i.weight) <= $6 THEN i.weight END
     WHEN abs(coalesce(w.weight, 1.0)) <= $6 AND abs(coalesce(i.value, 1.0)) <= $6
     THEN coalesce(w.weight, 1.0) * coalesce(i.value, 1.0)
END"""


async def _fold_range(
    conn: asyncpg.Connection,
    tenant_id: str,
    start: int,
    end: int,
    type_names: Sequence[str],
    type_weights: Sequence[float],
) -> dict[str, int]:
    """Fold ids in (start, end]: how many daily rows changed, how many interactions
    were counted, and how many users were new."""
    row = await conn.fetchrow(
        f"""
        WITH weighted AS (
            SELECT (i.occurred_at AT TIME ZONE 'UTC')::date AS day, i.entity_type, i.entity_id,
                   i.user_id, {_EFFECTIVE_WEIGHT} AS weight
            FROM interactions i
            LEFT JOIN unnest($4::text[], $5::float8[]) AS w(name, weight)
                   ON w.name = i.interaction_type
            WHERE i.tenant_id = $1 AND i.id > $2 AND i.id <= $3
        ), folded AS (
            INSERT INTO interaction_daily AS d
                (tenant_id, day, entity_type, entity_id, weight, events)
            SELECT $1, day, entity_type, entity_id, sum(weight), count(*)
            FROM weighted WHERE weight IS NOT NULL
            GROUP BY 2, 3, 4
            ON CONFLICT (tenant_id, day, entity_type, entity_id) DO UPDATE
                SET weight = d.weight + EXCLUDED.weight, events = d.events + EXCLUDED.events
            RETURNING 1
        ), new_users AS (
            INSERT INTO interaction_users (tenant_id, user_id)
            SELECT DISTINCT $1, user_id FROM weighted
            ON CONFLICT DO NOTHING
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM folded) AS folded,
               (SELECT count(*) FROM weighted WHERE weight IS NULL) AS ignored,
               (SELECT count(*) FROM weighted) AS interactions,
               (SELECT count(*) FROM new_users) AS users
        """,
        tenant_id,
        start,
        end,
        list(type_names),
        list(type_weights),
        MAX_WEIGHT,
    )
    if row["ignored"]:
        metrics.INTERACTIONS_IGNORED.labels("trending").inc(row["ignored"])
        logger.warning(
            "trending for tenant %s: %d interactions ignored, their weight or value out of range",
            tenant_id,
            row["ignored"],
        )
    return {name: int(row[name]) for name in ("folded", "interactions", "users")}


_SCORES = """
SELECT d.entity_type, d.entity_id,
       sum(d.weight * exp(-ln(2) * ($3::date - d.day) / $4::float8)) AS score
FROM interaction_daily d
WHERE d.tenant_id = $1 AND d.day > $3::date - $2::int AND d.day <= $3::date
  AND ($5::text IS NULL OR d.entity_type = $5)
GROUP BY d.entity_type, d.entity_id
"""


async def compute(
    conn: asyncpg.Connection,
    tenant_id: str,
    window_days: int,
    today: date,
    limit: int,
    entity_type: str | None,
) -> list[tuple[str, str, float]]:
    """The ``limit`` highest-scoring existing entities over the window ending ``today``."""
    rows = await conn.fetch(
        f"""
        SELECT s.entity_type, s.entity_id, s.score FROM ({_SCORES}) s
        JOIN entities e ON e.tenant_id = $1 AND e.entity_type = s.entity_type
                       AND e.entity_id = s.entity_id
        ORDER BY s.score DESC, s.entity_type, s.entity_id LIMIT $6
        """,
        tenant_id,
        window_days,
        today,
        max(window_days / 2, 1.0),
        entity_type,
        limit,
    )
    return [(r["entity_type"], r["entity_id"], float(r["score"])) for r in rows]


async def store(
    conn: asyncpg.Connection,
    tenant_id: str,
    entity_type: str | None,
    window_days: int,
    items: Sequence[tuple[str, str, float]],
) -> None:
    key = entity_type or ""
    await conn.execute(
        "DELETE FROM trending WHERE tenant_id = $1 AND entity_type = $2 AND window_days = $3",
        tenant_id,
        key,
        window_days,
    )
    await conn.copy_records_to_table(
        "trending",
        records=[
            (tenant_id, key, window_days, rank, t, i, s) for rank, (t, i, s) in enumerate(items)
        ],
        columns=[
            "tenant_id",
            "entity_type",
            "window_days",
            "rank",
            "item_type",
            "item_id",
            "score",
        ],
    )


async def mark_lists_computed(conn: asyncpg.Connection, tenant_id: str) -> None:
    await conn.execute(
        "UPDATE trending_state SET lists_computed_at = now() WHERE tenant_id = $1", tenant_id
    )


async def state(conn: asyncpg.Connection, tenant_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT last_interaction_id, lists_computed_at FROM trending_state WHERE tenant_id = $1",
        tenant_id,
    )


async def entity_types(conn: asyncpg.Connection, tenant_id: str, since: date) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT entity_type FROM interaction_daily WHERE tenant_id = $1 AND day > $2",
        tenant_id,
        since,
    )
    return [r["entity_type"] for r in rows]


async def read(
    conn: asyncpg.Connection,
    tenant_id: str,
    entity_type: str | None,
    window_days: int,
    limit: int,
    exclude: set[tuple[str, str]] | None = None,
    filters: dict[str, str] | None = None,
) -> list[dict[str, Any]] | None:
    """A stored list (entities still existing and matching ``filters``, with attributes);
    None if there is none."""
    rows = await conn.fetch(
        f"""
        SELECT t.item_type, t.item_id, t.score, e.attributes
        FROM trending t
        JOIN entities e ON e.tenant_id = t.tenant_id AND e.entity_type = t.item_type
                       AND e.entity_id = t.item_id
        WHERE t.tenant_id = $1 AND t.entity_type = $2 AND t.window_days = $3
          AND {attribute_filter("e", "$5", "$6")}
        ORDER BY t.rank LIMIT $4
        """,
        tenant_id,
        entity_type or "",
        window_days,
        limit + len(exclude or ()),
        list(filters or {}),
        list((filters or {}).values()),
    )
    if not rows:
        exists = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM trending WHERE tenant_id = $1 AND entity_type = $2 "
            "AND window_days = $3)",
            tenant_id,
            entity_type or "",
            window_days,
        )
        if not exists:
            return None
    items = [
        {
            "entity_type": r["item_type"],
            "entity_id": r["item_id"],
            "score": r["score"],
            "attributes": r["attributes"],
        }
        for r in rows
        if not exclude or (r["item_type"], r["item_id"]) not in exclude
    ]
    return items[:limit]
