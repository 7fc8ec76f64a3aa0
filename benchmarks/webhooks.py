"""What webhooks cost single interaction writes, and how fast events reach a receiver.

    python -m benchmarks.webhooks [--data-dir DIR] [--duration 8] [--runs 3]

Uses the recommendation benchmark's data (loaded into a fresh service, or reused from
``--data-dir``). `POST /api/v1/interactions` at 16 concurrent clients, in alternating
runs without and with a subscription to interaction.recorded, which points at a local
HTTP receiver (a process of its own) that answers 200 at once. Reported: write
throughput each way, and after the writes with the subscription, how long the last
events took to arrive and how many interactions the receiver got per second.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import json
import multiprocessing
import statistics
import time
from datetime import UTC, datetime
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx
import orjson
from tests.support import free_port

from benchmarks import datasets
from benchmarks.foundation import HEADERS, dataset_arguments, write_report
from benchmarks.loadgen import build_request, run_load
from benchmarks.recommendations import entity_count, load
from benchmarks.server import RunningServer, running_server


def write_load(server: RunningServer, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    host = f"127.0.0.1:{server.port}"

    def post(i: int) -> bytes:
        n = seed + i
        body = orjson.dumps(
            {
                "user_id": datasets.user_id(n % args.users),
                "entity_id": datasets.entity_id((n * 7919) % args.entities),
                "entity_type": "product",
                "interaction_type": "click",
            }
        )
        return build_request("POST", "/api/v1/interactions", host, HEADERS, body)

    result = asyncio.run(
        run_load("POST /api/v1/interactions", "127.0.0.1", server.port, post, 16, args.duration)
    )
    return result.summary()


def receive(port: int, tally: Synchronized[int], ready: Event) -> None:
    """A receiver in a process of its own (not competing with the load generator): it
    answers 200 at once and counts the interactions it was sent."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with tally.get_lock():
                tally.value += len(orjson.loads(body)["data"]["interactions"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ready.set()
    server.serve_forever()


def main() -> None:
    parser = dataset_arguments(
        argparse.ArgumentParser(
            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
    )
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, help="reuse (or keep) the loaded data here")
    args = parser.parse_args()
    report: dict[str, Any] = {"dataset": vars(args) | {"data_dir": str(args.data_dir)}}
    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    deliveries: list[dict[str, float]] = []
    port = free_port()
    tally = multiprocessing.Value("q", 0)
    ready = multiprocessing.Event()
    receiver = multiprocessing.Process(target=receive, args=(port, tally, ready), daemon=True)
    receiver.start()
    ready.wait(10)
    with (
        running_server(
            workers=1,
            data_dir=args.data_dir,
            quiet=True,
            BACKGROUND_JOBS="false",
            WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        ) as server,
        httpx.Client(base_url=server.url, headers=HEADERS, timeout=900) as http,
    ):
        if asyncio.run(entity_count(server)) == 0:
            load(server, args, datetime.now(UTC), report)
        seed = 0
        for _ in range(args.runs):
            for setup in ("without", "with"):
                hook = None
                if setup == "with":
                    hook = http.post(
                        "/api/v1/webhooks",
                        json={
                            "url": f"http://127.0.0.1:{port}/hook",
                            "events": ["interaction.recorded"],
                        },
                    ).json()
                before = tally.value
                summary = write_load(server, args, seed)
                seed += 1_000_000
                ended = time.perf_counter()
                runs[setup].append(summary)
                print(setup, json.dumps(summary), flush=True)
                if hook is not None:
                    written = sum(n for code, n in summary["statuses"].items() if int(code) == 201)
                    deadline = time.monotonic() + 300
                    while tally.value - before < written:
                        assert time.monotonic() < deadline, "events did not all arrive"
                        time.sleep(0.05)
                    lag = time.perf_counter() - ended
                    deliveries.append(
                        {
                            "seconds_after_last_write": round(lag, 2),
                            "interactions_per_second": round(written / (args.duration + lag), 1),
                        }
                    )
                    print("delivered", json.dumps(deliveries[-1]), flush=True)
                    http.delete(f"/api/v1/webhooks/{hook['id']}").raise_for_status()
    receiver.terminate()
    for setup, summaries in runs.items():
        report[setup] = {
            "rps": statistics.median(s["rps"] for s in summaries),
            "p95_ms": statistics.median(s["p95_ms"] for s in summaries),
            "runs": [s["rps"] for s in summaries],
        }
    report["deliveries"] = deliveries
    write_report("webhooks", report)


if __name__ == "__main__":
    main()
