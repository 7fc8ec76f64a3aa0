"""Nearest entities by feature-vector cosine similarity.

Indexed rows are searched through the HNSW index, built over half-precision copies of
the vectors (pgvector iterative scans keep going when filters discard candidates, so a
filter never starves the result); rows whose vectors are still waiting for the
background indexer are compared exactly. Similarities are computed on the stored
vectors, and both halves are merged by similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg
import numpy as np

from recommendation_engine.storage.filters import attribute_filter
from recommendation_engine.storage.model_store import ModelRef


@dataclass(frozen=True, slots=True)
class Neighbour:
    entity_type: str
    entity_id: str
    similarity: float
    attributes: dict[str, Any]
    item: int | None = None  # the entity's number in the model asked about, if any


def index_order(dimension: int, parameter: str) -> str:
    """The distance the HNSW index is ordered by (half-precision cosine, migration 0005),
    from an entity's vector to the vector ``parameter``; a query must order by exactly
    this expression for the index to answer it."""
    return f"feature_vector::halfvec({dimension}) <=> {parameter}::halfvec({dimension})"


@lru_cache(maxsize=8)
def _nearest_sql(dimension: int) -> str:
    return f"""
WITH candidates AS (
    (SELECT entity_type, entity_id, attributes, feature_vector <=> $2 AS distance
     FROM entities
     WHERE indexed AND tenant_id = $1
       AND ($3::text IS NULL OR entity_type = $3)
       AND entity_id <> ALL($5::text[])
       AND {attribute_filter("entities", "$7", "$8")}
     ORDER BY {index_order(dimension, "$2")}
     LIMIT $4)
    UNION ALL
    (SELECT entity_type, entity_id, attributes, feature_vector <=> $2 AS distance
     FROM entities
     WHERE NOT indexed AND tenant_id = $1
       AND ($3::text IS NULL OR entity_type = $3)
       AND entity_id <> ALL($5::text[])
       AND {attribute_filter("entities", "$7", "$8")}
     ORDER BY feature_vector <=> $2
     LIMIT $4)
), nearest AS (
    SELECT entity_type, entity_id, attributes, distance
    FROM candidates
    WHERE distance <> 'NaN' AND 1 - distance >= $6
    ORDER BY distance, entity_type, entity_id
    LIMIT $4
)
SELECT n.entity_type, n.entity_id, n.attributes, 1 - n.distance AS similarity, m.item
FROM nearest n
LEFT JOIN LATERAL (
    SELECT item FROM model_items
    WHERE tenant_id = $1 AND base = $9 AND entity_type = n.entity_type
      AND entity_id = n.entity_id AND version <= $10
    LIMIT 1
) m ON true
ORDER BY n.distance, n.entity_type, n.entity_id
"""


async def nearest(
    conn: asyncpg.Connection,
    tenant_id: str,
    vector: np.ndarray,
    limit: int,
    entity_type: str | None = None,
    exclude_ids: Sequence[str] = (),
    min_similarity: float = -1.0,
    filters: dict[str, str] | None = None,
    model: ModelRef | None = None,
) -> list[Neighbour]:
    """The ``limit`` entities most similar to ``vector`` (cosine), best first, among those
    of ``entity_type`` (any when None) whose attributes match ``filters``; with their
    attributes, and their numbers in ``model`` when one is given."""
    if limit <= 0 or not np.any(vector):
        return []
    # hnsw.ef_search and hnsw.iterative_scan are set for every pooled connection
    # (storage.database.SERVER_SETTINGS); iterative scans fetch more when filters need it.
    # The planner underrates the HNSW index against an exact scan of a few thousand rows
    # (10,000 entities: 10-13 ms scanning against about 1 ms through the index).
    # BEGIN and SET LOCAL travel in one message: one round trip fewer than a
    # `conn.transaction()` block. Inside a caller's transaction a savepoint scopes the
    # setting instead; rolling back to it (the search writes nothing) restores the
    # caller's settings.
    nested = conn.is_in_transaction()
    await conn.execute(
        ("SAVEPOINT nearest" if nested else "BEGIN READ ONLY") + "; SET LOCAL enable_seqscan = off"
    )
    try:
        rows = await conn.fetch(
            _nearest_sql(len(vector)),
            tenant_id,
            np.asarray(vector, dtype=np.float32),
            entity_type,
            limit,
            list(exclude_ids),
            min_similarity,
            list(filters or {}),
            list((filters or {}).values()),
            model.base if model else None,
            model.version if model else None,
        )
    finally:
        await conn.execute(
            "ROLLBACK TO SAVEPOINT nearest; RELEASE SAVEPOINT nearest" if nested else "ROLLBACK"
        )
    return [
        Neighbour(
            r["entity_type"], r["entity_id"], float(r["similarity"]), r["attributes"], r["item"]
        )
        for r in rows
    ]
