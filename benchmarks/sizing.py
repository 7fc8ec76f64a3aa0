"""Sizing: how much disk and memory a data set takes.

    python -m benchmarks.sizing [--entities 100000] [--interactions 1000000]

Loads the synthetic catalogue and log into a fresh service through the bulk API, waits
for the vector index, rebuilds the model and refreshes trending, then reports the
database's size (each table with its indexes and TOAST), the bytes per interaction and
per entity, and the resident memory of the service.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from benchmarks import datasets
from benchmarks.foundation import HEADERS, bulk_load, dataset_arguments, wait_indexed, write_report
from benchmarks.recommendations import wait_for_new_model
from benchmarks.server import RunningServer, running_server

MIB = 2**20


async def table_sizes(server: RunningServer) -> dict[str, Any]:
    conn = await asyncpg.connect(server.database_url())
    try:
        await conn.execute("VACUUM ANALYZE")
        rows = await conn.fetch(
            """
            SELECT c.relname AS name, pg_total_relation_size(c.oid) AS total,
                   pg_relation_size(c.oid) AS heap,
                   pg_indexes_size(c.oid) AS indexes
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r'
            ORDER BY pg_total_relation_size(c.oid) DESC
            """
        )
        database = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return {
        "database_mb": round(database / MIB, 1),
        "tables_mb": {
            r["name"]: {
                "total": round(r["total"] / MIB, 1),
                "heap": round(r["heap"] / MIB, 1),
                "indexes": round(r["indexes"] / MIB, 1),
            }
            for r in rows
            if r["total"] >= MIB
        },
        "bytes": {r["name"]: r["total"] for r in rows},
    }


def main() -> None:
    parser = dataset_arguments(
        argparse.ArgumentParser(
            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
    )
    args = parser.parse_args()
    now = datetime.now(UTC)
    report: dict[str, Any] = {"arguments": dict(vars(args))}
    with (
        running_server(workers=1, quiet=True, BACKGROUND_JOBS="false") as server,
        httpx.Client(base_url=server.url, headers=HEADERS, timeout=900) as http,
    ):
        started = time.perf_counter()
        rows = datasets.entities(args.entities)
        asyncio.run(bulk_load(server, "/api/v1/entities/bulk", "entities", rows, 10_000, 2))
        log_rows = datasets.interactions(args.interactions, args.entities, args.users, end=now)
        asyncio.run(
            bulk_load(server, "/api/v1/interactions/bulk", "interactions", log_rows, 10_000, 2)
        )
        asyncio.run(wait_indexed(server, started))
        report["service_rss_mb_before_training"] = round(server.rss_mb(), 1)
        before = http.get("/api/v1/model/status").json()["version"]
        http.post("/api/v1/model/rebuild").raise_for_status()
        wait_for_new_model(http, before, time.perf_counter())
        sizes = asyncio.run(table_sizes(server))
        model_tables = ("models", "model_items")
        report["database_mb"] = sizes["database_mb"]
        report["tables_mb"] = sizes["tables_mb"]
        report["bytes_per_interaction"] = round(
            (sizes["bytes"]["interactions"] + sizes["bytes"].get("interaction_daily", 0))
            / args.interactions
        )
        report["bytes_per_entity"] = round(sizes["bytes"]["entities"] / args.entities)
        report["model_bytes_per_entity"] = round(
            sum(sizes["bytes"].get(t, 0) for t in model_tables) / args.entities
        )
        report["service_rss_mb_after_training"] = round(server.rss_mb(), 1)
    write_report("sizing", report)


if __name__ == "__main__":
    main()
