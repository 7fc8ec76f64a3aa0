"""A tenant's user and interaction counts, kept by the trending fold, against a count of
the interaction table itself: after a fold, with interactions not folded yet, and after
an entity is deleted with its interactions."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from recommendation_engine.storage import trending as trending_repo
from tests.api.test_recommendations import rebuild
from tests.support import make_entity


def record(api: httpx.Client, user: str, entity: str) -> None:
    response = api.post(
        "/api/v1/interactions",
        json={"user_id": user, "entity_id": entity, "interaction_type": "view"},
    )
    assert response.status_code == 201, response.text


def query(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def counts(url: str) -> tuple[int, int]:
    async def run() -> tuple[int, int]:
        conn = await asyncpg.connect(url)
        try:
            return await trending_repo.counts(conn, "default")
        finally:
            await conn.close()

    return asyncio.run(run())


def truth(url: str) -> tuple[int, int]:
    [row] = query(
        url,
        "SELECT count(DISTINCT user_id) AS users, count(*) AS n FROM interactions "
        "WHERE tenant_id = 'default'",
    )
    return row["users"], row["n"]


def kept(url: str) -> tuple[int, int, int] | None:
    """The fold's counts and its watermark, or None while a recount is pending."""
    rows = query(
        url,
        "SELECT users, interactions, last_interaction_id FROM trending_state s "
        "WHERE tenant_id = 'default' AND NOT EXISTS "
        "(SELECT 1 FROM interaction_recounts r WHERE r.tenant_id = s.tenant_id)",
    )
    if not rows:
        return None
    return rows[0]["users"], rows[0]["interactions"], rows[0]["last_interaction_id"]


def test_the_fold_keeps_the_counts_through_new_interactions_and_deletions(
    api: httpx.Client, clean_db: str
) -> None:
    for name in ("a", "b", "c"):
        make_entity(api, name, "movie")
    for user, entity in (("u1", "a"), ("u1", "b"), ("u2", "a"), ("u3", "b"), ("u3", "b")):
        record(api, user, entity)
    assert kept(clean_db) is None  # nothing folded yet: counted from the table
    assert counts(clean_db) == truth(clean_db) == (3, 5)

    rebuild(api)  # folds everything
    assert kept(clean_db) == (3, 5, 5)
    assert counts(clean_db) == (3, 5)

    record(api, "u1", "c")  # a known user
    record(api, "u4", "c")  # a new one, twice
    record(api, "u4", "a")
    assert kept(clean_db) == (3, 5, 5)  # not folded yet: the counts add them
    assert counts(clean_db) == truth(clean_db) == (4, 8)

    # u3's every interaction was with b: deleting b takes u3 away as well.
    assert api.delete("/api/v1/entities/b").status_code == 204
    assert kept(clean_db) is None  # the counts are worked out again at the next fold
    assert counts(clean_db) == truth(clean_db) == (3, 5)
    rebuild(api)
    assert kept(clean_db) == (3, 5, 8)
    assert counts(clean_db) == (3, 5)
    users = query(clean_db, "SELECT user_id FROM interaction_users ORDER BY user_id")
    assert [row["user_id"] for row in users] == ["u1", "u2", "u4"]
