"""Foundation benchmark: bulk import, single writes and entity reads over HTTP.

    python -m benchmarks.foundation [--entities 100000] [--interactions 1000000]
                                    [--workers 1] [--duration 15] [--runs 3]

Starts the service with an embedded PostgreSQL in a fresh data directory, loads a
synthetic catalogue and interaction log through the bulk endpoints, then measures
single POST /interactions, POST /entities and GET /entities/{id} at 16 concurrent
clients. With --runs N the load phases repeat N times and medians are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import platform
import statistics
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from benchmarks import datasets
from benchmarks.loadgen import build_request, run_load
from benchmarks.server import API_KEY, RunningServer, running_server

HEADERS = {"X-API-Key": API_KEY}


async def bulk_load(
    server: RunningServer,
    path: str,
    key: str,
    rows: Iterable[dict[str, Any]],
    batch: int,
    parallel: int,
) -> dict[str, Any]:
    """Send ``rows`` in requests of ``batch``, ``parallel`` at a time. Rows are drawn and
    serialised as requests go out, so a log of ten million rows never sits in memory.

    Besides the overall rate, ``rows_per_s_by_million`` holds the rate of each million
    rows stored (the last one: the rate as the table nears its final size)."""
    source = iter(rows)
    failed = created = sent = 0
    marks: list[float] = []  # when each million rows had been stored

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failed, created, sent
        while chunk := list(itertools.islice(source, batch)):
            sent += len(chunk)
            response = await client.post(
                path,
                content=orjson.dumps({key: chunk}),
                headers={"content-type": "application/json"},
            )
            response.raise_for_status()
            result = response.json()
            failed += result["failed"]
            created += result["created"] + result["updated"]
            while created >= (len(marks) + 1) * 1_000_000:
                marks.append(time.perf_counter())

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=600) as client:
        await asyncio.gather(*(worker(client) for _ in range(parallel)))
    seconds = time.perf_counter() - started
    bounds = [started, *marks]
    return {
        "rows": sent,
        "seconds": round(seconds, 2),
        "rows_per_s": round(sent / seconds),
        "rows_per_s_by_million": [
            round(1_000_000 / (b - a)) for a, b in itertools.pairwise(bounds)
        ],
        "stored": created,
        "failed": failed,
    }


async def wait_indexed(server: RunningServer, started: float) -> float:
    """Seconds from ``started`` until no entity vector is waiting for the HNSW index."""
    conn = await asyncpg.connect(server.database_url())
    try:
        while await conn.fetchval("SELECT count(*) FROM entities WHERE NOT indexed"):  # noqa: ASYNC110
            await asyncio.sleep(0.25)
    finally:
        await conn.close()
    return round(time.perf_counter() - started, 2)


def load_phases(
    server: RunningServer, n_entities: int, n_users: int, duration: float, concurrency: int
) -> list[dict[str, Any]]:
    host = f"127.0.0.1:{server.port}"

    def post_interaction(i: int) -> bytes:
        body = orjson.dumps(
            {
                "user_id": datasets.user_id(i % n_users),
                "entity_id": datasets.entity_id((i * 7919) % n_entities),
                "entity_type": "product",
                "interaction_type": "click",
            }
        )
        return build_request("POST", "/api/v1/interactions", host, HEADERS, body)

    new_entities = iter(datasets.entities(2_000_000, seed=int(time.time())))
    run_tag = str(int(time.time() * 1000))

    def post_entity(i: int) -> bytes:
        entity = next(new_entities)
        entity["entity_id"] = f"new-{run_tag}-{i}"
        return build_request("POST", "/api/v1/entities", host, HEADERS, orjson.dumps(entity))

    def get_entity(i: int) -> bytes:
        path = f"/api/v1/entities/{datasets.entity_id((i * 7919) % n_entities)}?entity_type=product"
        return build_request("GET", path, host, HEADERS)

    results = []
    for name, factory in (
        ("POST /api/v1/interactions", post_interaction),
        ("POST /api/v1/entities", post_entity),
        ("GET /api/v1/entities/{id}", get_entity),
    ):
        result = asyncio.run(
            run_load(
                name, "127.0.0.1", server.port, factory, concurrency=concurrency, duration=duration
            )
        )
        # Let the background vector indexer finish before the next phase starts.
        asyncio.run(wait_indexed(server, time.perf_counter()))
        results.append(result.summary())
        print(json.dumps(result.summary()), flush=True)
    return results


def median_of(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    merged = []
    for index, first in enumerate(runs[0]):
        same = [run[index] for run in runs]
        merged.append(
            {
                "name": first["name"],
                "runs": len(same),
                **{
                    k: round(statistics.median(r[k] for r in same), 2)
                    for k in ("rps", "p50_ms", "p95_ms", "p99_ms")
                },
                "rps_all_runs": [r["rps"] for r in same],
                "non_2xx": sum(n for r in same for s, n in r["statuses"].items() if int(s) >= 300),
            }
        )
    return merged


def dataset_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The synthetic dataset's size, as every benchmark that loads it takes it."""
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    return parser


def main() -> None:
    parser = dataset_arguments(
        argparse.ArgumentParser(
            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--parallel", type=int, default=2, help="concurrent bulk requests")
    args = parser.parse_args()

    print("generating data...", flush=True)
    entity_rows = list(datasets.entities(args.entities))
    interaction_rows = list(datasets.interactions(args.interactions, args.entities, args.users))
    report: dict[str, Any] = {
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "dataset": {
            "entities": args.entities,
            "interactions": args.interactions,
            "users": args.users,
        },
        "workers": args.workers,
        "concurrency": args.concurrency,
    }
    with running_server(workers=args.workers) as server:
        started = time.perf_counter()
        report["bulk_entities"] = asyncio.run(
            bulk_load(
                server, "/api/v1/entities/bulk", "entities", entity_rows, args.batch, args.parallel
            )
        )
        report["bulk_entities"]["seconds_until_all_indexed"] = asyncio.run(
            wait_indexed(server, started)
        )
        print("bulk entities", report["bulk_entities"], flush=True)
        report["bulk_interactions"] = asyncio.run(
            bulk_load(
                server,
                "/api/v1/interactions/bulk",
                "interactions",
                interaction_rows,
                args.batch,
                args.parallel,
            )
        )
        print("bulk interactions", report["bulk_interactions"], flush=True)
        del entity_rows, interaction_rows
        runs = [
            load_phases(server, args.entities, args.users, args.duration, args.concurrency)
            for _ in range(args.runs)
        ]
        report["load"] = median_of(runs)
        report["service_rss_mb"] = round(server.rss_mb(), 1)
    write_report("foundation", report)


def write_report(name: str, report: dict[str, Any]) -> None:
    """Print ``report`` and keep it as benchmarks/out/<name>-<time>.json."""
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    path = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
