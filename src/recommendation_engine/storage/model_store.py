"""SQL for trained models: versions, their items and neighbour lists.

A full build is a *base* version that writes a row for every item. An incremental
update is a new version of the same base that writes rows only for the items it
changed; version V of a model is, for each item, the newest row of V's base at or
below V. A version is written in state ``building`` and published in one transaction
that retires the previous live version; readers always see exactly one live version
per tenant. The last retired version stays readable so requests that started on it can
finish: rows it superseded, and bases no longer needed, are deleted at the next
publication.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import numpy as np


@dataclass(frozen=True, slots=True)
class ModelRef:
    """Which rows make a model version: those of ``base`` at or below ``version``."""

    base: int
    version: int


NO_MODEL = ModelRef(-1, -1)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    tenant_id: str
    version: int
    state: str
    algorithm: str
    config: dict[str, Any]
    started_at: datetime
    trained_at: datetime | None
    users: int
    items: int
    interactions: int
    last_interaction_id: int
    base_version: int
    updated_at: datetime | None

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.base_version, self.version)

    @property
    def incremental(self) -> bool:
        return self.version != self.base_version


_INFO = (
    "tenant_id, version, state, algorithm, config, started_at, trained_at, users, items, "
    "interactions, last_interaction_id, base_version, updated_at"
)


def _info(row: asyncpg.Record) -> ModelInfo:
    return ModelInfo(**dict(row))


async def begin(
    conn: asyncpg.Connection,
    tenant_id: str,
    algorithm: str,
    config: dict,
    base: ModelInfo | None = None,
) -> ModelRef:
    """Start a version: a new base (a full build), or an update of ``base``'s base."""
    row = await conn.fetchrow(
        """
        INSERT INTO models (tenant_id, version, base_version, state, algorithm, config,
                            trained_at)
        VALUES ($1, nextval('model_version_seq'), coalesce($4, currval('model_version_seq')),
                'building', $2, $3, $5)
        RETURNING base_version, version
        """,
        tenant_id,
        algorithm,
        config,
        base.base_version if base else None,
        base.trained_at if base else None,
    )
    return ModelRef(row["base_version"], row["version"])


# An item's lists as stored: (neighbours, scores) of each source, packed (`pack`); the
# long-term and content pairs are None where the item has no such list.
LIST_COLUMNS = (
    "neighbours",
    "scores",
    "long_term_neighbours",
    "long_term_scores",
    "content_neighbours",
    "content_scores",
    "content_similarities",  # the content neighbours' plain cosine similarity
)
PackedLists = tuple[
    bytes, bytes, bytes | None, bytes | None, bytes | None, bytes | None, bytes | None
]


async def write_items(
    conn: asyncpg.Connection,
    tenant_id: str,
    model: ModelRef,
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """``rows``: (item, entity_type, entity_id, popularity, *`PackedLists`)."""
    await conn.copy_records_to_table(
        "model_items",
        records=[(tenant_id, model.base, model.version, *row) for row in rows],
        columns=[
            "tenant_id",
            "base",
            "version",
            "item",
            "entity_type",
            "entity_id",
            "popularity",
            *LIST_COLUMNS,
        ],
    )


async def write_updated_items(
    conn: asyncpg.Connection,
    tenant_id: str,
    model: ModelRef,
    rows: Sequence[tuple[int, str, str, float, bytes, bytes]],
) -> None:
    """Rows of an incremental update: ``(item, entity_type, entity_id, popularity,
    neighbours, scores)`` with new sequential lists; each item's long-term and content
    lists are carried over from its previous row in the database itself."""
    async with conn.transaction():
        await conn.execute(
            """
            CREATE TEMP TABLE IF NOT EXISTS model_items_staging (
                item integer, entity_type text, entity_id text, popularity real,
                neighbours bytea, scores bytea
            ) ON COMMIT DELETE ROWS
            """
        )
        await conn.copy_records_to_table(
            "model_items_staging",
            records=rows,
            columns=["item", "entity_type", "entity_id", "popularity", "neighbours", "scores"],
        )
        await conn.execute(
            f"""
            INSERT INTO model_items (tenant_id, base, version, item, entity_type, entity_id,
                                     popularity, {", ".join(LIST_COLUMNS)})
            SELECT $1, $2, $3, s.item, s.entity_type, s.entity_id, s.popularity,
                   s.neighbours, s.scores, p.long_term_neighbours, p.long_term_scores,
                   p.content_neighbours, p.content_scores, p.content_similarities
            FROM model_items_staging s
            LEFT JOIN LATERAL (
                SELECT long_term_neighbours, long_term_scores, content_neighbours,
                       content_scores, content_similarities
                FROM model_items m
                WHERE m.tenant_id = $1 AND m.base = $2 AND m.item = s.item
                  AND m.version < $3
                ORDER BY m.version DESC LIMIT 1
            ) p ON true
            """,
            tenant_id,
            model.base,
            model.version,
        )


async def item_lists(
    conn: asyncpg.Connection, tenant_id: str, model: ModelRef, items: Sequence[int]
) -> dict[int, PackedLists]:
    """The lists of model ``items`` in version ``model`` (items it lacks are left out)."""
    if not items:
        return {}
    rows = await conn.fetch(
        f"""
        SELECT DISTINCT ON (item) item, {", ".join(LIST_COLUMNS)} FROM model_items
        WHERE tenant_id = $1 AND base = $2 AND item = ANY($3::int[]) AND version <= $4
        ORDER BY item, version DESC
        """,
        tenant_id,
        model.base,
        list(items),
        model.version,
    )
    return {r["item"]: tuple(r[c] for c in LIST_COLUMNS) for r in rows}  # type: ignore[misc]


async def changed_items(
    conn: asyncpg.Connection, tenant_id: str, base: int, after: int, up_to: int
) -> list[int]:
    """Items whose rows versions in (after, up_to] of ``base`` rewrote."""
    rows = await conn.fetch(
        "SELECT DISTINCT item FROM model_items "
        "WHERE tenant_id = $1 AND base = $2 AND version > $3 AND version <= $4",
        tenant_id,
        base,
        after,
        up_to,
    )
    return [r["item"] for r in rows]


async def publish(
    conn: asyncpg.Connection,
    tenant_id: str,
    model: ModelRef,
    users: int,
    items: int,
    interactions: int,
    last_interaction_id: int,
) -> None:
    """Make ``model`` the live version (call inside a transaction)."""
    previous = await conn.fetchrow(
        "UPDATE models SET state = 'retired' WHERE tenant_id = $1 AND state = 'live' "
        "RETURNING version, base_version",
        tenant_id,
    )
    keep = {model.base}
    if previous is not None:
        keep |= {previous["version"], previous["base_version"]}
        # Rows the previous version superseded are no longer read by anyone.
        await conn.execute(
            """
            DELETE FROM model_items m
            WHERE m.tenant_id = $1 AND m.base = $2 AND m.version < $3
              AND m.item IN (SELECT item FROM model_items
                             WHERE tenant_id = $1 AND base = $2 AND version = $3)
            """,
            tenant_id,
            previous["base_version"],
            previous["version"],
        )
    # Older retired versions (deleting a base deletes its rows).
    await conn.execute(
        "DELETE FROM models WHERE tenant_id = $1 AND state = 'retired' "
        "AND NOT version = ANY($2::bigint[])",
        tenant_id,
        sorted(keep),
    )
    await conn.execute(
        """
        UPDATE models SET state = 'live', updated_at = now(),
            trained_at = coalesce(trained_at, now()), users = $3, items = $4,
            interactions = $5, last_interaction_id = $6
        WHERE tenant_id = $1 AND version = $2
        """,
        tenant_id,
        model.version,
        users,
        items,
        interactions,
        last_interaction_id,
    )


async def item_keys(
    conn: asyncpg.Connection, tenant_id: str, model: ModelRef
) -> list[tuple[int, str, str]]:
    """Every item of the model version: (item, entity_type, entity_id)."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (item) item, entity_type, entity_id FROM model_items
        WHERE tenant_id = $1 AND base = $2 AND version <= $3
        ORDER BY item
        """,
        tenant_id,
        model.base,
        model.version,
    )
    return [(r["item"], r["entity_type"], r["entity_id"]) for r in rows]


async def discard(conn: asyncpg.Connection, tenant_id: str, model: ModelRef) -> None:
    """Drop an unfinished version and the rows it wrote."""
    async with conn.transaction():
        await conn.execute(
            "DELETE FROM model_items WHERE tenant_id = $1 AND base = $2 AND version = $3",
            tenant_id,
            model.base,
            model.version,
        )
        await conn.execute(
            "DELETE FROM models WHERE tenant_id = $1 AND version = $2 AND state = 'building'",
            tenant_id,
            model.version,
        )


async def discard_unfinished(conn: asyncpg.Connection, tenant_id: str) -> None:
    for row in await conn.fetch(
        "SELECT base_version, version FROM models WHERE tenant_id = $1 AND state = 'building'",
        tenant_id,
    ):
        await discard(conn, tenant_id, ModelRef(row["base_version"], row["version"]))


async def live(conn: asyncpg.Connection, tenant_id: str) -> ModelInfo | None:
    row = await conn.fetchrow(
        f"SELECT {_INFO} FROM models WHERE tenant_id = $1 AND state = 'live'", tenant_id
    )
    return _info(row) if row else None


async def all_live(conn: asyncpg.Connection) -> list[ModelInfo]:
    """Every tenant's live version."""
    rows = await conn.fetch(f"SELECT {_INFO} FROM models WHERE state = 'live'")
    return [_info(row) for row in rows]


async def building(conn: asyncpg.Connection, tenant_id: str) -> ModelInfo | None:
    row = await conn.fetchrow(
        f"SELECT {_INFO} FROM models WHERE tenant_id = $1 AND state = 'building' "
        "ORDER BY version DESC LIMIT 1",
        tenant_id,
    )
    return _info(row) if row else None


async def tenants_with_interactions(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        """
        WITH RECURSIVE t AS (
            (SELECT tenant_id FROM interactions ORDER BY tenant_id LIMIT 1)
            UNION ALL
            SELECT (SELECT tenant_id FROM interactions WHERE tenant_id > t.tenant_id
                    ORDER BY tenant_id LIMIT 1)
            FROM t WHERE t.tenant_id IS NOT NULL
        )
        SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL
        """
    )
    return [row["tenant_id"] for row in rows]


async def newest_interaction_id(conn: asyncpg.Connection, tenant_id: str) -> int:
    value = await conn.fetchval("SELECT max(id) FROM interactions WHERE tenant_id = $1", tenant_id)
    return int(value or 0)


@dataclass(frozen=True, slots=True)
class TrainingBatch:
    """Consecutive interactions in id order, as columns. ``kinds[i]`` is the 1-based
    position of the row's interaction type in the names the caller passed (0 for
    another type); ``weights[i]`` is meaningful only where ``has_weight[i]``, and a
    missing value reads 1."""

    last_id: int
    users: list[str]
    entity_types: list[str]
    entity_ids: list[str]
    kinds: np.ndarray
    has_weight: np.ndarray
    weights: np.ndarray
    values: np.ndarray
    times: np.ndarray


async def training_batches(
    conn: asyncpg.Connection,
    tenant_id: str,
    after_id: int,
    up_to_id: int,
    type_names: Sequence[str],
    batch: int = 50_000,
) -> AsyncIterator[TrainingBatch]:
    """The tenant's interactions with ids in (after_id, up_to_id], in id order (of two
    interactions of a user at the same time, the one recorded first comes first, as a
    request reads a history), ``batch`` rows at a time, each batch as columns in one
    row: decoding arrays costs a fraction of decoding rows. Run it in a repeatable-read
    transaction so every batch reads one snapshot."""
    while after_id < up_to_id:
        row = await conn.fetchrow(
            """
            SELECT max(id) AS last_id,
                   array_agg(user_id ORDER BY id) AS users,
                   array_agg(entity_type ORDER BY id) AS entity_types,
                   array_agg(entity_id ORDER BY id) AS entity_ids,
                   array_agg(coalesce(array_position($4::text[], interaction_type), 0)
                             ORDER BY id) AS kinds,
                   array_agg(weight IS NOT NULL ORDER BY id) AS has_weight,
                   array_agg(coalesce(weight, 0) ORDER BY id) AS weights,
                   array_agg(coalesce(value, 1) ORDER BY id) AS values,
                   array_agg(extract(epoch FROM occurred_at)::float8 ORDER BY id) AS times
            FROM (SELECT * FROM interactions
                  WHERE tenant_id = $1 AND id > $2 AND id <= $3
                  ORDER BY id LIMIT $5) newest
            """,
            tenant_id,
            after_id,
            up_to_id,
            list(type_names),
            batch,
        )
        if row is None or row["last_id"] is None:
            return
        yield TrainingBatch(
            row["last_id"],
            row["users"],
            row["entity_types"],
            row["entity_ids"],
            np.array(row["kinds"], np.int64),
            np.array(row["has_weight"], bool),
            np.array(row["weights"], np.float64),
            np.array(row["values"], np.float64),
            np.array(row["times"], np.float64),
        )
        after_id = row["last_id"]


# How a list is stored: its items and their scores, each as raw little-endian numbers.
ITEM_DTYPE = np.dtype("<i4")
SCORE_DTYPE = np.dtype("<f4")


def pack(neighbours: np.ndarray, scores: np.ndarray) -> tuple[bytes, bytes]:
    return (
        np.asarray(neighbours, dtype=ITEM_DTYPE).tobytes(),
        np.asarray(scores, dtype=SCORE_DTYPE).tobytes(),
    )


def unpack(neighbours: bytes, scores: bytes) -> tuple[np.ndarray, np.ndarray]:
    return np.frombuffer(neighbours, dtype=ITEM_DTYPE), np.frombuffer(scores, dtype=SCORE_DTYPE)


async def set_config(
    conn: asyncpg.Connection, tenant_id: str, model: ModelRef, config: dict[str, Any]
) -> None:
    """Save the settings a version was built with (known once its tuning is done)."""
    await conn.execute(
        "UPDATE models SET config = $3 WHERE tenant_id = $1 AND version = $2",
        tenant_id,
        model.version,
        config,
    )


# The key and feature vector of each of the entities named by $2 (types) and $3 (ids)
# that has one.
VECTORS_OF_KEYS = """
SELECT e.entity_type, e.entity_id, e.feature_vector
FROM unnest($2::text[], $3::text[]) AS k(entity_type, entity_id)
JOIN entities e ON e.tenant_id = $1 AND e.entity_type = k.entity_type
               AND e.entity_id = k.entity_id
WHERE e.feature_vector IS NOT NULL
"""


async def entity_vectors(
    conn: asyncpg.Connection, tenant_id: str, keys: Sequence[tuple[str, str]] | None = None
) -> AsyncIterator[asyncpg.Record]:
    """The key and stored feature vector of every entity that has one, or of those of
    ``keys`` (needs a transaction)."""
    if keys is None:
        query = (
            "SELECT entity_type, entity_id, feature_vector FROM entities "
            "WHERE tenant_id = $1 AND feature_vector IS NOT NULL"
        )
        arguments: tuple[Any, ...] = (tenant_id,)
    else:
        query = VECTORS_OF_KEYS
        arguments = (tenant_id, [k[0] for k in keys], [k[1] for k in keys])
    async for row in conn.cursor(query, *arguments, prefetch=2000):
        yield row


async def count_entity_vectors(conn: asyncpg.Connection, tenant_id: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM entities WHERE tenant_id = $1 AND feature_vector IS NOT NULL",
            tenant_id,
        )
    )


async def popular_items(
    conn: asyncpg.Connection, tenant_id: str, model: ModelRef, limit: int, offset: int
) -> list[int]:
    """Items of ``model``'s base by descending popularity (as the base wrote them)."""
    rows = await conn.fetch(
        "SELECT item FROM model_items WHERE tenant_id = $1 AND base = $2 AND version = $2 "
        "ORDER BY popularity DESC, item LIMIT $3 OFFSET $4",
        tenant_id,
        model.base,
        limit,
        offset,
    )
    return [r["item"] for r in rows]
