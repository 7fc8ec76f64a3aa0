"""Recommendation speed: model rebuild, user recommendations, similar entities, trending.

    python -m benchmarks.recommendations [--entities 100000] [--interactions 1000000]
                                         [--duration 15] [--runs 3] [--data-dir DIR]

Loads the synthetic catalogue and interaction log (timestamps ending now, so trending
has data) into a fresh service through the bulk API, times a full model rebuild,
measures the three read routes at 16 concurrent clients with no cache, then records
10,000 more interactions and times the incremental update that folds them in.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np

from benchmarks import datasets
from benchmarks.foundation import (
    HEADERS,
    bulk_load,
    dataset_arguments,
    median_of,
    wait_indexed,
    write_report,
)
from benchmarks.loadgen import build_request, run_load
from benchmarks.server import RunningServer, running_server


def wait_for_new_model(
    http: httpx.Client, before: int | None, started: float, limit: float = 3600
) -> float:
    while time.perf_counter() - started < limit:
        status = http.get("/api/v1/model/status").json()
        if status["version"] is not None and status["version"] != before:
            return round(time.perf_counter() - started, 2)
        time.sleep(0.2)
    raise TimeoutError(f"no new model version within {limit} s (see the service log)")


def phases(server: RunningServer, n_entities: int, n_users: int, duration: float) -> list[dict]:
    host = f"127.0.0.1:{server.port}"
    rng = np.random.default_rng(5)
    # users drawn like the log's activity: most requests for users with history
    users = rng.integers(0, n_users, size=100_000)
    items = rng.integers(0, max(1, n_entities // 10), size=100_000)  # the popular tenth

    def user(i: int) -> bytes:
        return build_request(
            "GET",
            f"/api/v1/recommendations/user/{datasets.user_id(int(users[i % 100_000]))}?count=10",
            host,
            HEADERS,
        )

    def similar(i: int) -> bytes:
        return build_request(
            "GET",
            f"/api/v1/recommendations/entity/{datasets.entity_id(int(items[i % 100_000]))}"
            "?entity_type=product&count=10",
            host,
            HEADERS,
        )

    def trending(i: int) -> bytes:
        return build_request("GET", "/api/v1/recommendations/trending?count=20", host, HEADERS)

    results = []
    for name, factory in (
        ("GET /recommendations/user/{id} (hybrid)", user),
        ("GET /recommendations/entity/{id} (hybrid)", similar),
        ("GET /recommendations/trending", trending),
    ):
        result = asyncio.run(run_load(name, "127.0.0.1", server.port, factory, 16, duration))
        results.append(result.summary())
        print(json.dumps(result.summary()), flush=True)
    return results


async def entity_count(server: RunningServer) -> int:
    conn = await asyncpg.connect(server.database_url())
    try:
        return int(await conn.fetchval("SELECT count(*) FROM entities"))
    finally:
        await conn.close()


def load(server: RunningServer, args: argparse.Namespace, now: datetime, report: dict) -> None:
    """Load the synthetic catalogue through the bulk API and wait for its vectors to be
    indexed, then load the log (as `benchmarks.foundation` does: neither load pays for
    the other's background work)."""
    started = time.perf_counter()
    report["bulk_entities"] = asyncio.run(
        bulk_load(
            server, "/api/v1/entities/bulk", "entities", datasets.entities(args.entities), 10_000, 2
        )
    )
    print("entities", report["bulk_entities"], flush=True)
    report["all_vectors_indexed_seconds"] = asyncio.run(wait_indexed(server, started))
    print("indexed after", report["all_vectors_indexed_seconds"], flush=True)
    log_rows = datasets.interactions(args.interactions, args.entities, args.users, end=now)
    report["bulk_interactions"] = asyncio.run(
        bulk_load(server, "/api/v1/interactions/bulk", "interactions", log_rows, 10_000, 2)
    )
    print("interactions", report["bulk_interactions"], flush=True)


def main() -> None:
    parser = dataset_arguments(
        argparse.ArgumentParser(
            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
    )
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the service's data here; a directory already loaded is reused as it is",
    )
    args = parser.parse_args()
    now = datetime.now(UTC)
    report: dict[str, Any] = {
        "dataset": {
            "entities": args.entities,
            "interactions": args.interactions,
            "users": args.users,
        }
    }
    with (
        running_server(
            workers=1,
            data_dir=args.data_dir,
            BACKGROUND_JOBS="false",
            RECOMMENDATION_CACHE_TTL_SECS="0",  # every request computed
        ) as server,
        httpx.Client(base_url=server.url, headers=HEADERS, timeout=900) as http,
    ):
        if args.data_dir is not None and asyncio.run(entity_count(server)) > 0:
            print("reusing the data in", args.data_dir, flush=True)
        else:
            load(server, args, now, report)
        before = http.get("/api/v1/model/status").json()["version"]
        started = time.perf_counter()
        http.post("/api/v1/model/rebuild").raise_for_status()
        report["full_rebuild_seconds"] = wait_for_new_model(http, before, started)
        print("full rebuild", report["full_rebuild_seconds"], flush=True)
        runs = [phases(server, args.entities, args.users, args.duration) for _ in range(args.runs)]
        report["load"] = median_of(runs)
        report["service_rss_mb_after_load"] = round(server.rss_mb(), 1)
        more = list(datasets.interactions(10_000, args.entities, args.users, seed=99, end=now))
        asyncio.run(bulk_load(server, "/api/v1/interactions/bulk", "interactions", more, 10_000, 1))
        before = http.get("/api/v1/model/status").json()["version"]
        started = time.perf_counter()
        http.post("/api/v1/model/rebuild", params={"incremental": "true"}).raise_for_status()
        report["incremental_update_after_10k_new_seconds"] = wait_for_new_model(
            http, before, started
        )
        status = http.get("/api/v1/model/status").json()
        assert status["last_incremental_update"] is not None, status
        report["service_rss_mb"] = round(server.rss_mb(), 1)
    write_report("recommendations", report)


if __name__ == "__main__":
    main()
