"""Which HTTP server, how many workers, which JSON library.

    python -m benchmarks.servers [--rounds 3] [--duration 6]

Runs the service under uvicorn (httptools + uvloop) and granian with 1 and 2 worker
processes against one embedded PostgreSQL, measuring GET /api/v1/entities/{id} and
POST /api/v1/interactions at 16 concurrent clients, rounds interleaved so that machine
noise spreads evenly. Then times rendering an entity response (512 floats) with orjson
and with the standard library's json. Needs `pip install granian` for the granian rows
(they are skipped without it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import orjson

from benchmarks.loadgen import build_request, run_load
from benchmarks.server import free_port
from recommendation_engine.storage.database import Database
from recommendation_engine.storage.migrate import upgrade

KEY = "bench-api-key"
HEADERS = {"X-API-Key": KEY}
N_ENTITIES = 2000


def _commands() -> dict[str, Callable[[int], list[str]]]:
    serve = [sys.executable, "-m", "recommendation_engine", "serve"]
    commands: dict[str, Callable[[int], list[str]]] = {
        "uvicorn, 1 worker": lambda port: serve,
        "uvicorn, 2 workers": lambda port: ["env", "WORKERS=2", *serve],
    }
    granian = shutil.which("granian") or str(Path(sys.executable).parent / "granian")
    if Path(granian).exists():
        for workers in (1, 2):
            commands[f"granian, {workers} worker{'s' if workers > 1 else ''}"] = (
                lambda port, w=workers: [
                    granian,
                    "--interface",
                    "asgi",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    str(w),
                    "--loop",
                    "uvloop",
                    "--log-level",
                    "warning",
                    "recommendation_engine.api.app:create_app",
                ]
            )
    return commands


def _start(command: list[str], port: int, url: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, DATABASE_URL=url, API_KEY=KEY, PORT=str(port), LOG_LEVEL="warning")
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{command[0]} did not start")


def _seed(port: int) -> None:
    entities = [
        {
            "entity_id": f"e{i}",
            "entity_type": "product",
            "attributes": {"category": f"c{i % 10}", "tags": ["a", "b"], "price": i},
        }
        for i in range(N_ENTITIES)
    ]
    httpx.post(
        f"http://127.0.0.1:{port}/api/v1/entities/bulk",
        headers=HEADERS,
        json={"entities": entities},
        timeout=120,
    ).raise_for_status()
    time.sleep(5)  # let the vector indexer finish


def servers(rounds: int, duration: float) -> dict[str, dict[str, list[tuple[float, float]]]]:
    results: dict[str, dict[str, list[tuple[float, float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-servers-") as tmp:
        database = Database(None, Path(tmp))
        url = database.start()
        try:
            upgrade(url, 512)
            seeded = False
            for _ in range(rounds):
                for name, command in _commands().items():
                    port = free_port()
                    process = _start(command(port), port, url)
                    try:
                        if not seeded:
                            _seed(port)
                            seeded = True
                        host = f"127.0.0.1:{port}"
                        phases = {
                            "GET /api/v1/entities/{id}": lambda i, h=host: build_request(
                                "GET",
                                f"/api/v1/entities/e{i % N_ENTITIES}?entity_type=product",
                                h,
                                HEADERS,
                            ),
                            "POST /api/v1/interactions": lambda i, h=host: build_request(
                                "POST",
                                "/api/v1/interactions",
                                h,
                                HEADERS,
                                orjson.dumps(
                                    {
                                        "user_id": f"u{i % 500}",
                                        "entity_id": f"e{i % N_ENTITIES}",
                                        "entity_type": "product",
                                        "interaction_type": "view",
                                    }
                                ),
                            ),
                        }
                        for phase, factory in phases.items():
                            out = asyncio.run(
                                run_load(phase, "127.0.0.1", port, factory, 16, duration, 1.0)
                            )
                            results.setdefault(name, {}).setdefault(phase, []).append(
                                (out.rps, out.percentile(95))
                            )
                    finally:
                        process.send_signal(signal.SIGTERM)
                        process.wait(30)
        finally:
            database.stop()
    return results


def json_render() -> dict[str, float]:
    """Microseconds to render one entity response with each JSON library."""
    vector = np.random.default_rng(0).random(512, dtype=np.float32)
    body = {
        "entity_id": "product-1",
        "entity_type": "product",
        "tenant_id": "default",
        "attributes": {"category": "electronics", "price": 99.9, "tags": ["a", "b"]},
    }
    n = 2000
    with_orjson = timeit.timeit(
        lambda: orjson.dumps({**body, "feature_vector": vector}, option=orjson.OPT_SERIALIZE_NUMPY),
        number=n,
    )
    with_stdlib = timeit.timeit(
        lambda: json.dumps({**body, "feature_vector": vector.tolist()}).encode(), number=n
    )
    return {
        "orjson_us": round(with_orjson / n * 1e6, 1),
        "stdlib_json_us": round(with_stdlib / n * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=6.0)
    args = parser.parse_args()
    print("| server | route | req/s (median) | p95 ms (median) | req/s per round |")
    print("|---|---|---|---|---|")
    for name, phases in servers(args.rounds, args.duration).items():
        for phase, runs in phases.items():
            rps = statistics.median(r for r, _ in runs)
            p95 = statistics.median(p for _, p in runs)
            print(
                f"| {name} | {phase} | {rps:,.0f} | {p95:.1f} | "
                f"{', '.join(f'{r:,.0f}' for r, _ in runs)} |"
            )
    print()
    print("JSON rendering of one entity response (512-float vector):", json_render())


if __name__ == "__main__":
    main()
