"""Cached recommendation speed: answers from process memory and from Redis.

    python -m benchmarks.cache [--data-dir DIR] [--duration 12] [--runs 3]

Uses the recommendation benchmark's data (loaded into a fresh service, or reused from
``--data-dir``) and a model rebuilt on it. The same 1,000 users, 1,000 entities and the
trending list are asked for once to fill the cache, then measured at 16 concurrent
clients, in three set-ups:
- "bare": the memory layer with no metrics, no rate limiting and LOG_LEVEL=warning;
- "observed": the same with metrics, a request log line at LOG_LEVEL=info and the rate
  limiter counting every request (limits it never reaches);
- "redis": Redis as the only layer that can answer (REDIS_URL set, memory layer one
  entry), on a Valkey server started here.
The service's own output is discarded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from tests.support import RedisServer

from benchmarks import datasets
from benchmarks.foundation import HEADERS, dataset_arguments, median_of, write_report
from benchmarks.loadgen import build_request, run_load
from benchmarks.recommendations import entity_count, load, wait_for_new_model
from benchmarks.server import RunningServer, running_server

KEYS = 1_000


def paths(n_entities: int, n_users: int) -> dict[str, list[str]]:
    rng = np.random.default_rng(5)
    users = rng.integers(0, n_users, size=KEYS)
    items = rng.integers(0, max(1, n_entities // 10), size=KEYS)  # the popular tenth
    return {
        "GET /recommendations/user/{id} (cached)": [
            f"/api/v1/recommendations/user/{datasets.user_id(int(u))}?count=10" for u in users
        ],
        "GET /recommendations/entity/{id} (cached)": [
            f"/api/v1/recommendations/entity/{datasets.entity_id(int(i))}"
            "?entity_type=product&count=10"
            for i in items
        ],
        "GET /recommendations/trending (cached)": ["/api/v1/recommendations/trending?count=20"],
    }


def measure(
    server: RunningServer, http: httpx.Client, args: argparse.Namespace
) -> list[dict[str, Any]]:
    host = f"127.0.0.1:{server.port}"
    routes = paths(args.entities, args.users)
    for listed in routes.values():  # fill the cache: every key once
        for path in listed:
            http.get(path).raise_for_status()
    runs = []
    for _ in range(args.runs):
        run = []
        for name, listed in routes.items():

            def factory(i: int, listed: list[str] = listed) -> bytes:
                return build_request("GET", listed[i % len(listed)], host, HEADERS)

            result = asyncio.run(
                run_load(name, "127.0.0.1", server.port, factory, 16, args.duration)
            )
            run.append(result.summary())
            print(json.dumps(result.summary()), flush=True)
        runs.append(run)
    return median_of(runs)


def main() -> None:
    parser = dataset_arguments(
        argparse.ArgumentParser(
            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
    )
    parser.add_argument("--duration", type=float, default=12.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, help="reuse (or keep) the loaded data here")
    args = parser.parse_args()
    report: dict[str, Any] = {"dataset": vars(args) | {"data_dir": str(args.data_dir)}}
    redis_server = RedisServer()
    redis_server.start()
    try:
        setups = {
            "bare": {"RATE_LIMIT_ENABLED": "false", "METRICS_ENABLED": "false"},
            "observed": {"LOG_LEVEL": "info"},
            "redis": {"REDIS_URL": redis_server.url, "RECOMMENDATION_CACHE_MAX_ENTRIES": "1"},
        }
        for layer, env in setups.items():
            with (
                running_server(
                    workers=1,
                    data_dir=args.data_dir,
                    quiet=True,
                    BACKGROUND_JOBS="false",
                    **env,
                ) as server,
                httpx.Client(base_url=server.url, headers=HEADERS, timeout=900) as http,
            ):
                if asyncio.run(entity_count(server)) == 0:
                    load(server, args, datetime.now(UTC), report)
                if http.get("/api/v1/model/status").json()["version"] is None:
                    http.post("/api/v1/model/rebuild").raise_for_status()
                    wait_for_new_model(http, None, time.perf_counter())
                print("set-up:", layer, flush=True)
                report[layer] = measure(server, http, args)
    finally:
        redis_server.stop()
    write_report("cache", report)


if __name__ == "__main__":
    main()
