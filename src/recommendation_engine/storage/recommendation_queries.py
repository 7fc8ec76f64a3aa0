"""SQL on the recommendation request path. Every query reads by index; none scans.

A model version's row for an item is the newest row of its base at or below the
version (storage.model_store): each lookup takes that row through the index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import asyncpg
import numpy as np
import orjson

from recommendation_engine.storage.filters import attribute_filter
from recommendation_engine.storage.model_store import VECTORS_OF_KEYS, ModelRef


class HistoryRow(NamedTuple):
    """One interaction of a user's history: its columns in `user_state`'s order."""

    entity_type: str
    entity_id: str
    interaction_type: str
    weight: float | None
    value: float | None
    item: int | None  # the entity's number in the live model, if it has one


@dataclass(slots=True)
class UserState:
    """A user's recent history (newest first) and every entity among their latest
    interactions (to leave out), read in one query, with the tenant's catalogue
    generation at that moment (None without history: not read)."""

    history: list[HistoryRow]
    seen: set[tuple[str, str]]
    seen_items: set[int]
    catalogue: int | None = None


# The tenant's catalogue generation (storage.entities moves it on every change), as a
# column: read once per statement.
_CATALOGUE = "coalesce((SELECT generation FROM catalogue_generations WHERE tenant_id = $1), 0)"


async def user_state(
    conn: asyncpg.Connection,
    tenant_id: str,
    user_id: str,
    model: ModelRef,
    history: int,
    seen: int,
) -> UserState:
    """The latest ``history`` interactions and the entities of the latest
    ``max(history, seen)`` interactions, with their numbers in ``model``."""
    # A scalar subquery in the select list runs for the rows the limit keeps only, and
    # plans far more cheaply than a join on a windowed subquery (planned on every call).
    rows = await conn.fetch(
        f"""
        SELECT l.entity_type, l.entity_id, l.interaction_type, l.weight, l.value,
               (SELECT item FROM model_items
                WHERE tenant_id = $1 AND base = $5 AND entity_type = l.entity_type
                  AND entity_id = l.entity_id AND version <= $3
                ORDER BY version DESC LIMIT 1) AS item,
               {_CATALOGUE} AS catalogue
        FROM interactions l WHERE tenant_id = $1 AND user_id = $2
        ORDER BY occurred_at DESC, id DESC LIMIT $4
        """,
        tenant_id,
        user_id,
        model.version,
        max(history, seen),
        model.base,
    )
    state = UserState(
        [HistoryRow(*r[:6]) for r in rows[:history]],
        set(),
        set(),
        rows[0]["catalogue"] if rows else None,
    )
    if seen:
        state.seen = {(r[0], r[1]) for r in rows}
        state.seen_items = {r[5] for r in rows if r[5] is not None}
    return state


# An entity's attributes: decoded, or as the JSON text the database holds (a candidate's
# attributes are only ever written out again, so they are never decoded).
Attributes = dict[str, Any] | orjson.Fragment


@dataclass(frozen=True, slots=True)
class Candidate:
    item: int | None
    entity_type: str
    entity_id: str
    similarity: float | None
    attributes: Attributes


# The entity keys of model items $3 in the version $2 of base {base}: each item's newest
# row at or below the version.
_MODEL_KEYS = """
    SELECT DISTINCT ON (m.item) m.item, m.entity_type, m.entity_id FROM model_items m
    WHERE m.tenant_id = $1 AND m.base = {base} AND m.item = ANY($3::int[]) AND m.version <= $2
"""

_CANDIDATES = f"""
WITH keys AS ({_MODEL_KEYS.format(base="$8")})
SELECT k.item, e.entity_type, e.entity_id, e.attributes::text AS attributes,
       CASE WHEN $4::vector IS NULL THEN NULL
            ELSE 1 - (e.feature_vector <=> $4::vector) END AS similarity
FROM keys k
JOIN entities e ON e.tenant_id = $1 AND e.entity_type = k.entity_type
               AND e.entity_id = k.entity_id
WHERE ($5::text IS NULL OR e.entity_type = $5)
  AND {attribute_filter("e", "$6", "$7")}
"""


async def candidates(
    conn: asyncpg.Connection,
    tenant_id: str,
    model: ModelRef,
    items: Sequence[int],
    profile: np.ndarray | None,
    entity_type: str | None,
    filters: dict[str, str],
) -> list[Candidate]:
    """The existing entities behind model ``items`` with the requested type and attribute
    values, their attributes, and their cosine similarity to ``profile``."""
    if not items:
        return []
    rows = await conn.fetch(
        _CANDIDATES,
        tenant_id,
        model.version,
        list(items),
        profile,
        entity_type,
        list(filters),
        list(filters.values()),
        model.base,
    )
    return [
        Candidate(
            r["item"],
            r["entity_type"],
            r["entity_id"],
            None
            if r["similarity"] is None or r["similarity"] != r["similarity"]
            else float(r["similarity"]),
            orjson.Fragment(r["attributes"]),
        )
        for r in rows
    ]


async def catalogue_generation(conn: asyncpg.Connection, tenant_id: str) -> int:
    """The tenant's catalogue generation (storage.entities moves it on every change)."""
    return await conn.fetchval(f"SELECT {_CATALOGUE}", tenant_id)


async def entity_rows(
    conn: asyncpg.Connection, tenant_id: str, model: ModelRef, items: Sequence[int]
) -> list[tuple[int, str, str, str]]:
    """``(item, entity type, entity id, attributes as JSON text)`` of the existing
    entities behind model ``items``."""
    rows = await conn.fetch(
        f"""
        SELECT k.item, e.entity_type, e.entity_id, e.attributes::text
        FROM ({_MODEL_KEYS.format(base="$4")}) k
        JOIN entities e ON e.tenant_id = $1 AND e.entity_type = k.entity_type
                       AND e.entity_id = k.entity_id
        """,
        tenant_id,
        model.version,
        list(items),
        model.base,
    )
    return [tuple(r) for r in rows]


async def popular(
    conn: asyncpg.Connection,
    tenant_id: str,
    model: ModelRef,
    limit: int,
    entity_type: str | None,
    filters: dict[str, str],
    exclude: set[tuple[str, str]],
    exclude_ids: set[str],
) -> list[tuple[Candidate, float]]:
    """The model's most interacted-with entities, most popular first (entities the model
    holds for their content alone, never interacted with, are not popular)."""
    found: list[tuple[Candidate, float]] = []
    offset, page = 0, max(limit * 4, 50)
    while len(found) < limit:
        # Rows superseded by a newer row of the item (at or below the version) are not
        # the version's; the popularity index gives the rest in order.
        rows = await conn.fetch(
            """
            SELECT item, popularity FROM model_items m
            WHERE tenant_id = $1 AND base = $5 AND version <= $2 AND popularity > 0
              AND NOT EXISTS (
                  SELECT 1 FROM model_items newer
                  WHERE newer.tenant_id = $1 AND newer.base = $5 AND newer.item = m.item
                    AND newer.version > m.version AND newer.version <= $2
              )
            ORDER BY popularity DESC, item LIMIT $3 OFFSET $4
            """,
            tenant_id,
            model.version,
            page,
            offset,
            model.base,
        )
        if not rows:
            break
        weights = {r["item"]: float(r["popularity"]) for r in rows}
        batch = await candidates(conn, tenant_id, model, list(weights), None, entity_type, filters)
        batch.sort(key=lambda c: (-weights[c.item or 0], c.item))
        for candidate in batch:
            key = (candidate.entity_type, candidate.entity_id)
            if key not in exclude and candidate.entity_id not in exclude_ids:
                found.append((candidate, weights[candidate.item or 0]))
        offset += page
    return found[:limit]


class EntityModelRow(NamedTuple):
    has_vector: bool  # the vector itself stays in the database (`feature_vectors`)
    item: int | None  # the entity's number in the model (None: the model lacks it)
    catalogue: int  # the tenant's catalogue generation


async def entity_model_row(
    conn: asyncpg.Connection, tenant_id: str, model: ModelRef, entity_type: str, entity_id: str
) -> EntityModelRow | None:
    """What a similar-entities request needs to know of its entity, with the tenant's
    catalogue generation; None if the entity does not exist."""
    row = await conn.fetchrow(
        f"""
        SELECT e.feature_vector IS NOT NULL AS has_vector, m.item, {_CATALOGUE} AS catalogue
        FROM entities e
        LEFT JOIN LATERAL (
            SELECT item FROM model_items
            WHERE tenant_id = $1 AND base = $5 AND entity_type = e.entity_type
              AND entity_id = e.entity_id AND version <= $2
            ORDER BY version DESC LIMIT 1
        ) m ON true
        WHERE e.tenant_id = $1 AND e.entity_type = $3 AND e.entity_id = $4
        """,
        tenant_id,
        model.version,
        entity_type,
        entity_id,
        model.base,
    )
    if row is None:
        return None
    return EntityModelRow(*row)


async def feature_vectors(
    conn: asyncpg.Connection, tenant_id: str, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], np.ndarray]:
    """The stored feature vectors of the entities ``keys`` that have one."""
    if not keys:
        return {}
    rows = await conn.fetch(
        VECTORS_OF_KEYS,
        tenant_id,
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["entity_type"], r["entity_id"]): r["feature_vector"].to_numpy() for r in rows}
