"""HNSW parameters for entity feature vectors: insert cost against recall.

    python -m benchmarks.vector_index [--entities 20000] [--queries 200]

Builds the synthetic catalogue's attribute vectors (the service's own feature
extraction), inserts them into a pgvector HNSW index on an embedded PostgreSQL with
several (m, ef_construction) settings from two connections, and measures recall@10
against exact cosine neighbours (ties at the 10th similarity count as hits) for
hnsw.ef_search 40 and 100.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

from benchmarks import datasets
from recommendation_engine.engine.features import extract_features
from recommendation_engine.storage.database import Database

SETTINGS = [(16, 64), (12, 40), (8, 32)]


async def measure(url: str, vectors: np.ndarray, queries: list[int], m: int, ef: int) -> dict:
    conn = await asyncpg.connect(url)
    await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    await register_vector(conn)
    await conn.execute("DROP TABLE IF EXISTS hnsw_bench")
    await conn.execute("CREATE TABLE hnsw_bench (id int PRIMARY KEY, v vector(512))")
    await conn.execute(
        f"CREATE INDEX ON hnsw_bench USING hnsw (v vector_cosine_ops) "
        f"WITH (m = {m}, ef_construction = {ef})"
    )
    rows = [(i, vectors[i]) for i in range(len(vectors))]

    async def insert(part: int) -> None:
        other = await asyncpg.connect(url)
        await register_vector(other)
        for start in range(part * 1000, len(rows), 2000):
            await other.executemany(
                "INSERT INTO hnsw_bench VALUES ($1, $2)", rows[start : start + 1000]
            )
        await other.close()

    started = time.perf_counter()
    await asyncio.gather(insert(0), insert(1))
    seconds = time.perf_counter() - started
    similarities = vectors @ vectors[queries].T
    result = {
        "m": m,
        "ef_construction": ef,
        "insert_ms_per_row": round(seconds / len(rows) * 1000, 3),
    }
    for ef_search in (40, 100):
        await conn.execute(f"SET hnsw.ef_search = {ef_search}")
        hits = []
        for column, query in enumerate(queries):
            found = await conn.fetch(
                "SELECT id FROM hnsw_bench WHERE id <> $2 ORDER BY v <=> $1 LIMIT 10",
                vectors[query],
                query,
            )
            column_sims = np.delete(similarities[:, column], query)
            tenth = np.sort(column_sims)[::-1][9] - 1e-6
            hits.append(sum(similarities[r["id"], column] >= tenth for r in found) / 10)
        result[f"recall@10_ef_search_{ef_search}"] = round(float(np.mean(hits)), 3)
    await conn.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    vectors = np.stack(
        [extract_features(e["attributes"], 512) for e in datasets.entities(args.entities)]
    )
    queries = list(range(0, args.entities, max(1, args.entities // args.queries)))
    with tempfile.TemporaryDirectory(prefix="bench-hnsw-") as tmp:
        database = Database(None, Path(tmp))
        url = database.start()
        try:
            for m, ef in SETTINGS:
                print(asyncio.run(measure(url, vectors, queries, m, ef)), flush=True)
        finally:
            database.stop()


if __name__ == "__main__":
    main()
