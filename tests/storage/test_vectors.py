"""Nearest-entity search over the HNSW index and the not-yet-indexed rows."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import numpy as np
import pytest

from recommendation_engine.engine.features import extract_features
from recommendation_engine.storage import entities, interactions, vectors
from recommendation_engine.storage.database import SERVER_SETTINGS, init_connection
from recommendation_engine.storage.entities import index_pending

DIM = 512
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def vec(**attributes: object) -> np.ndarray:
    return extract_features(attributes, DIM)


async def _connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url, server_settings=SERVER_SETTINGS)
    await init_connection(conn)  # the service's own codecs (jsonb, vector)
    return conn


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_nearest_merges_indexed_and_pending_rows(
    clean_db: str, loop: asyncio.AbstractEventLoop
) -> None:
    async def scenario() -> None:
        conn = await _connect(clean_db)
        try:
            query = vec(category="audio", tags=["wireless", "bluetooth"])
            await entities.insert(conn, "t1", "product", "same", {}, query)
            await entities.insert(
                conn, "t1", "product", "close", {}, vec(category="audio", tags=["wireless"])
            )
            await entities.insert(conn, "t1", "product", "far", {}, vec(category="garden"))
            await entities.insert(conn, "t1", "book", "other-type", {}, query)
            await entities.insert(conn, "t2", "product", "other-tenant", {}, query)
            async with conn.transaction():
                assert await index_pending(conn, 2) == 2  # some rows indexed, some pending
            found = await vectors.nearest(conn, "t1", query, 10, entity_type="product")
            assert [n.entity_id for n in found][:2] == ["same", "close"]
            assert found[0].similarity == pytest.approx(1.0, abs=1e-5)
            assert {n.entity_id for n in found} == {"same", "close", "far"}
            assert all(a.similarity >= b.similarity for a, b in itertools.pairwise(found))

            everything = await vectors.nearest(conn, "t1", query, 10)
            assert {n.entity_id for n in everything} == {"same", "close", "far", "other-type"}
            excluded = await vectors.nearest(conn, "t1", query, 10, exclude_ids=["same"])
            assert "same" not in {n.entity_id for n in excluded}
            strict = await vectors.nearest(conn, "t1", query, 10, min_similarity=0.5)
            assert "far" not in {n.entity_id for n in strict}
            assert await vectors.nearest(conn, "t1", np.zeros(DIM, np.float32), 10) == []
        finally:
            await conn.close()

    loop.run_until_complete(scenario())


def test_a_type_filter_is_not_starved_by_the_index(
    clean_db: str, loop: asyncio.AbstractEventLoop
) -> None:
    async def scenario() -> None:
        conn = await _connect(clean_db)
        try:
            query = vec(category="audio", tags=["wireless"])
            rng = np.random.default_rng(1)
            for n in range(400):  # many near-identical books crowd the query's neighbourhood
                noise = rng.normal(0, 0.01, DIM).astype(np.float32)
                await entities.insert(conn, "t", "book", f"b{n}", {}, query + noise)
            for n in range(5):
                await entities.insert(
                    conn,
                    "t",
                    "movie",
                    f"m{n}",
                    {},
                    vec(category="audio", tags=[f"t{n}"], year=2000 + n),
                )
            async with conn.transaction():
                while await index_pending(conn, 500):
                    pass
            async with conn.transaction():
                # Leave the HNSW index as the only ordered path, so the index answers.
                await conn.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off")
                found = await vectors.nearest(conn, "t", query, 5, entity_type="movie")
                plan = await conn.fetch(
                    "EXPLAIN SELECT entity_id FROM entities WHERE indexed AND tenant_id = 't' "
                    f"AND entity_type = 'movie' ORDER BY {vectors.index_order(DIM, '$1')} LIMIT 5",
                    query,
                )
            assert any("entities_feature_vector_idx" in row[0] for row in plan)
            assert sorted(n.entity_id for n in found) == [f"m{n}" for n in range(5)]
        finally:
            await conn.close()

    loop.run_until_complete(scenario())


@pytest.mark.parametrize("lock", ["batch", "one by one"])
def test_an_interaction_is_written_while_its_entity_is_being_indexed(
    clean_db: str, loop: asyncio.AbstractEventLoop, lock: str
) -> None:
    """The indexer's row locks leave an entity free for an interaction's foreign key
    check: an import does not wait for every batch of the indexer that holds one of its
    entities."""

    async def scenario() -> None:
        indexer, writer = await _connect(clean_db), await _connect(clean_db)
        try:
            await entities.insert(indexer, "t", "product", "p1", {}, vec(category="audio"))
            async with indexer.transaction():
                if lock == "batch":
                    assert await index_pending(indexer, 10) == 1
                else:
                    assert await entities.pending_keys(indexer, 10) == [("t", "product", "p1")]
                async with writer.transaction():
                    await writer.execute("SET LOCAL lock_timeout = '2s'")
                    outcome = await interactions.bulk_insert(
                        writer,
                        "t",
                        [(0, "u1", "product", "p1", "view", 1.0, None, {}, None, NOW, None)],
                    )
                assert outcome.inserted == 1
            stored = await writer.fetchval(
                "SELECT count(*) FROM interactions WHERE tenant_id = 't'"
            )
            assert stored == 1
        finally:
            await indexer.close()
            await writer.close()

    loop.run_until_complete(scenario())
