"""Soak: a long steady load of writes and recommendation reads, with background jobs on.

    python -m benchmarks.soak [--minutes 10] [--read-rate 100] [--entities 10000] …

Loads a synthetic catalogue and log, measures the sustainable rate of single
interaction writes (16 clients, closed loop, 15 s), then for ``--minutes`` sends writes
at half that rate and user recommendations at ``--read-rate`` per second, each paced on
connections of its own, as independent clients would send them. Every answer other
than 2xx counts as an error, and so does a dropped connection. The service's memory
(its own processes and its embedded PostgreSQL) is sampled every 10 s; the report gives
the samples and the growth over the soak, and the database's size before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np

from benchmarks import datasets
from benchmarks.foundation import HEADERS, bulk_load, dataset_arguments, write_report
from benchmarks.loadgen import build_request, read_response, run_load
from benchmarks.server import RunningServer, running_server

SAMPLE_SECONDS = 10.0


async def database_mb(server: RunningServer) -> float:
    conn = await asyncpg.connect(server.database_url())
    try:
        return round(await conn.fetchval("SELECT pg_database_size(current_database())") / 2**20, 1)
    finally:
        await conn.close()


class Tally:
    def __init__(self) -> None:
        self.statuses: dict[str, int] = {}
        self.latencies: list[float] = []

    def note(self, status: int | str, latency_ms: float | None = None) -> None:
        key = str(status)
        self.statuses[key] = self.statuses.get(key, 0) + 1
        if latency_ms is not None:
            self.latencies.append(latency_ms)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if not status.startswith("2"))

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies) or [float("nan")]
        return {
            "requests": sum(self.statuses.values()),
            "errors": self.errors,
            "statuses": self.statuses,
            "p50_ms": round(ordered[len(ordered) // 2], 2),
            "p95_ms": round(ordered[int(len(ordered) * 0.95)], 2),
            "p99_ms": round(ordered[int(len(ordered) * 0.99)], 2),
        }


async def paced(
    server: RunningServer,
    rate: float,
    seconds: float,
    connections: int,
    make_request: Callable[[int], bytes],
    tally: Tally,
) -> None:
    """Requests at ``rate`` per second for ``seconds`` (wall clock), spread over
    ``connections`` keep-alive connections, each sending on its own schedule: a slow
    answer delays only its connection, which then sends its next request at once."""
    interval = connections / rate
    stop_at = time.perf_counter() + seconds

    async def connection(offset: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        due = time.perf_counter() + offset * interval / connections
        n = offset
        try:
            while (now := time.perf_counter()) < stop_at:
                await asyncio.sleep(max(0.0, due - now))
                sent = time.perf_counter()
                try:
                    writer.write(make_request(n))
                    status = await read_response(reader)
                    tally.note(status, (time.perf_counter() - sent) * 1000)
                except (OSError, asyncio.IncompleteReadError) as error:
                    tally.note(type(error).__name__)
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                n += connections
                due += interval
        finally:
            writer.close()

    await asyncio.gather(*(connection(k) for k in range(connections)))


async def sample_memory(server: RunningServer, seconds: float, samples: list[dict]) -> None:
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) <= seconds:
        samples.append({"second": round(elapsed), "service_rss_mb": round(server.rss_mb(), 1)})
        await asyncio.sleep(SAMPLE_SECONDS)


async def soak(
    server: RunningServer, write_rate: float, args: argparse.Namespace
) -> dict[str, Any]:
    host = f"127.0.0.1:{server.port}"
    rng = np.random.default_rng(3)
    seconds = args.minutes * 60

    def write(n: int) -> bytes:
        body = json.dumps(
            {
                "user_id": datasets.user_id(int(rng.integers(args.users))),
                "entity_id": datasets.entity_id(int(rng.integers(args.entities))),
                "interaction_type": "view",
                "event_id": f"soak-{n}",
            }
        ).encode()
        return build_request("POST", "/api/v1/interactions", host, HEADERS, body)

    def read(_: int) -> bytes:
        user = datasets.user_id(int(rng.integers(args.users)))
        path = f"/api/v1/recommendations/user/{user}?count=10"
        return build_request("GET", path, host, HEADERS)

    writes, reads, samples = Tally(), Tally(), []
    await asyncio.gather(
        paced(server, write_rate, seconds, 8, write, writes),
        paced(server, args.read_rate, seconds, 4, read, reads),
        sample_memory(server, seconds, samples),
    )
    return {
        "seconds": seconds,
        "write_rate_asked": round(write_rate, 1),
        "write_rate_done": round(sum(writes.statuses.values()) / seconds, 1),
        "read_rate_asked": args.read_rate,
        "read_rate_done": round(sum(reads.statuses.values()) / seconds, 1),
        "writes": writes.summary(),
        "reads": reads.summary(),
        "memory_samples": samples,
    }


def main() -> None:
    parser = dataset_arguments(
        argparse.ArgumentParser(
            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
    )
    parser.set_defaults(entities=10_000, interactions=100_000, users=5_000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--background-jobs",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="train models and refresh trending in the measured process (the default), "
        "or leave it serving only",
    )
    parser.add_argument(
        "--read-rate", type=float, default=100.0, help="user recommendations per second"
    )
    args = parser.parse_args()
    now = datetime.now(UTC)
    report: dict[str, Any] = {"arguments": dict(vars(args))}
    jobs = "true" if args.background_jobs else "false"
    with running_server(workers=1, quiet=True, BACKGROUND_JOBS=jobs) as server:
        rows = datasets.entities(args.entities)
        asyncio.run(bulk_load(server, "/api/v1/entities/bulk", "entities", rows, 5_000, 1))
        log_rows = datasets.interactions(args.interactions, args.entities, args.users, end=now)
        asyncio.run(
            bulk_load(server, "/api/v1/interactions/bulk", "interactions", log_rows, 5_000, 1)
        )
        host = f"127.0.0.1:{server.port}"
        rng = np.random.default_rng(2)

        def write(i: int) -> bytes:
            body = json.dumps(
                {
                    "user_id": datasets.user_id(int(rng.integers(args.users))),
                    "entity_id": datasets.entity_id(int(rng.integers(args.entities))),
                    "interaction_type": "view",
                }
            ).encode()
            return build_request("POST", "/api/v1/interactions", host, HEADERS, body)

        capacity = asyncio.run(run_load("capacity", "127.0.0.1", server.port, write, 16, 15.0))
        report["sustainable_writes"] = capacity.summary()
        report["database_mb_before"] = asyncio.run(database_mb(server))
        print("sustainable writes", report["sustainable_writes"], flush=True)
        report["soak"] = asyncio.run(soak(server, capacity.rps / 2, args))
        samples = report["soak"]["memory_samples"]
        # Growth from the end of the first minute (caches and pools filled) to the end.
        settled = next((s for s in samples if s["second"] >= 60), samples[0])
        report["soak"]["service_rss_growth_mb"] = round(
            samples[-1]["service_rss_mb"] - settled["service_rss_mb"], 1
        )
        report["database_mb_after"] = asyncio.run(database_mb(server))
        print(json.dumps({k: v for k, v in report["soak"].items() if k != "memory_samples"}))
    write_report("soak", report)


if __name__ == "__main__":
    main()
