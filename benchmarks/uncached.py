"""The uncached recommendation path against a previous release, in the same run.

    python -m benchmarks.uncached [--baseline 2678d24] [--entities 100000]
                                  [--interactions 1000000] [--users 50000]
                                  [--rounds 3] [--duration 10] [--warm 15]
                                  [--clients 16] [--workers 1]
                                  [--data-dir DIR]

The baseline's sources come from `git archive` of the given commit and run on this
environment's packages. The synthetic catalogue and log are loaded once through the
baseline's bulk API and its model is built; the data directory is then copied, so the
current code serves the very same data (it migrates its copy forward when it starts, and
rebuilds the model its own way once before the rounds).
Rounds alternate baseline and current; each round starts the service afresh with
background jobs on and no response cache, lets its first model update run (which reads
the model's log back, once per process), and measures user recommendations and
similar entities (hybrid) at 16 concurrent clients. Each route first gets `--warm`
seconds of its own traffic, unmeasured: a replica keeps model data it read (the item
lists, `service.item_lists`) and reaches its steady state only after some traffic, as a
service that has been running has. The response cache stays off throughout. The
current code is also measured with background jobs off, for `POST /api/v1/interactions`
and both routes, to show what the background work costs requests. Medians of the
rounds, and their ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from benchmarks import datasets
from benchmarks.foundation import HEADERS, dataset_arguments, write_report
from benchmarks.loadgen import build_request, run_load
from benchmarks.recommendations import load, wait_for_new_model
from benchmarks.server import RunningServer, running_server

ROOT = Path(__file__).resolve().parents[1]


def baseline_sources(commit: str, target: Path) -> Path:
    """The ``src`` tree of ``commit``, unpacked under ``target``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target / "src"


def routes(
    server: RunningServer, n_entities: int, n_users: int
) -> dict[str, Callable[[int], bytes]]:
    host = f"127.0.0.1:{server.port}"
    rng = np.random.default_rng(5)
    users = rng.integers(0, n_users, size=100_000)
    items = rng.integers(0, max(1, n_entities // 10), size=100_000)  # the popular tenth
    now = datetime.now(UTC)
    writes = list(datasets.interactions(20_000, n_entities, n_users, seed=123, end=now))

    def user(i: int) -> bytes:
        path = f"/api/v1/recommendations/user/{datasets.user_id(int(users[i % 100_000]))}?count=10"
        return build_request("GET", path, host, HEADERS)

    def similar(i: int) -> bytes:
        entity = datasets.entity_id(int(items[i % 100_000]))
        path = f"/api/v1/recommendations/entity/{entity}?entity_type=product&count=10"
        return build_request("GET", path, host, HEADERS)

    def interaction(i: int) -> bytes:
        body = orjson.dumps(writes[i % len(writes)])
        return build_request("POST", "/api/v1/interactions", host, HEADERS, body)

    return {"user (hybrid)": user, "similar (hybrid)": similar, "POST interaction": interaction}


def measure(
    server: RunningServer, args: argparse.Namespace, names: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    factories = routes(server, args.entities, args.users)
    found = {}
    for name in names:
        result = asyncio.run(
            run_load(
                name,
                "127.0.0.1",
                server.port,
                factories[name],
                args.clients,
                args.duration,
                args.warm,
            )
        )
        summary = result.summary()
        errors = sum(n for status, n in result.statuses.items() if status >= 400)
        found[name] = {"rps": summary["rps"], "p95_ms": summary["p95_ms"], "errors": errors}
        print(f"  {name}: {summary['rps']} req/s, p95 {summary['p95_ms']} ms", flush=True)
    return found


def settle(server: RunningServer, background: bool, limit: float = 120.0) -> None:
    """With background jobs on, the first incremental update after a start reads the
    model's log back (once in a process's life): have it happen before measuring, as in
    a service that has been running. One interaction is recorded, and the next model
    version waited for."""
    if not background:
        return
    [write] = datasets.interactions(1, 10, 10, seed=7, end=datetime.now(UTC))
    write.pop("event_id", None)
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=60) as http:
        before = http.get("/api/v1/model/status").json()["version"]
        http.post("/api/v1/interactions", json=write).raise_for_status()
        try:
            print(f"  settled: {wait_for_new_model(http, before, time.perf_counter(), limit)} s")
        except TimeoutError:
            print(f"  no model update within {limit} s: measuring anyway", flush=True)


def serve(
    data_dir: Path, source: Path | None, background: bool, workers: int = 1, **settings: str
) -> Any:
    env = {
        "BACKGROUND_JOBS": "true" if background else "false",
        "RECOMMENDATION_CACHE_TTL_SECS": "0",  # every request computed
        **settings,
    }
    if source is not None:
        env["PYTHONPATH"] = str(source)
    return running_server(workers=workers, data_dir=data_dir, quiet=True, **env)


def median(runs: list[dict[str, dict[str, float]]], name: str, key: str) -> float:
    return round(statistics.median(run[name][key] for run in runs), 2)


def main() -> None:
    parser = dataset_arguments(
        argparse.ArgumentParser(
            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
    )
    parser.add_argument("--baseline", default="2678d24", help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--warm", type=float, default=15.0, help="seconds of unmeasured traffic per route first"
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=1, help="WORKERS of both services (1: one process)"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="keep the loaded baseline data here (reused when present)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-uncached-"))
    source = baseline_sources(args.baseline, work / "baseline")
    loaded = args.data_dir or work / "loaded"
    report: dict[str, Any] = {
        "baseline": args.baseline,
        "dataset": {
            "entities": args.entities,
            "interactions": args.interactions,
            "users": args.users,
        },
        "clients": args.clients,
        "workers": args.workers,
        "duration_s": args.duration,
        "warm_s": args.warm,
    }
    try:
        if not (loaded / "postgres").exists():
            loaded.mkdir(parents=True, exist_ok=True)
            with (
                serve(loaded, source, background=False) as server,
                httpx.Client(base_url=server.url, headers=HEADERS, timeout=900) as http,
            ):
                load(server, args, datetime.now(UTC), report)
                before = http.get("/api/v1/model/status").json()["version"]
                http.post("/api/v1/model/rebuild").raise_for_status()
                wait_for_new_model(http, before, time.perf_counter())
        routes_measured = ("user (hybrid)", "similar (hybrid)")
        runs: dict[str, list[dict[str, dict[str, float]]]] = {"baseline": [], "current": []}
        copies = {name: work / f"{name}-data" for name in runs}
        for copy in copies.values():
            # `cp -a` keeps the owner: the embedded server runs as a user of its own
            subprocess.run(["cp", "-a", str(loaded), str(copy)], check=True)
        # The current code serves a model of its own building (tuned, with every list).
        with (
            serve(copies["current"], None, background=False) as server,
            httpx.Client(base_url=server.url, headers=HEADERS, timeout=900) as http,
        ):
            before = http.get("/api/v1/model/status").json()["version"]
            started = time.perf_counter()
            http.post("/api/v1/model/rebuild").raise_for_status()
            wait_for_new_model(http, before, started)
            report["current_build_seconds"] = round(time.perf_counter() - started, 1)
            report["current_model"] = http.get("/api/v1/model/status").json()
            print(f"current model rebuilt in {report['current_build_seconds']} s", flush=True)
        for round_number in range(args.rounds):
            for name, code in (("baseline", source), ("current", None)):
                copy = copies[name]
                print(f"round {round_number + 1}: {name}", flush=True)
                with serve(copy, code, background=True, workers=args.workers) as server:
                    settle(server, background=True)
                    runs[name].append(measure(server, args, routes_measured))
        report["routes"] = {
            name: {
                side: {
                    "rps": median(runs[side], name, "rps"),
                    "p95_ms": median(runs[side], name, "p95_ms"),
                    "rps_all_rounds": [run[name]["rps"] for run in runs[side]],
                    "errors": sum(run[name]["errors"] for run in runs[side]),
                }
                for side in runs
            }
            for name in routes_measured
        }
        for sides in report["routes"].values():
            sides["throughput_ratio"] = round(sides["current"]["rps"] / sides["baseline"]["rps"], 2)
            sides["p95_ratio"] = round(sides["current"]["p95_ms"] / sides["baseline"]["p95_ms"], 2)
        # What background work costs requests: the current code, jobs on and off, alternated.
        every = ("POST interaction", "user (hybrid)", "similar (hybrid)")
        background: dict[str, list[dict[str, dict[str, float]]]] = {"on": [], "off": []}
        for round_number in range(args.rounds):
            for state in ("on", "off"):
                print(f"round {round_number + 1}: background jobs {state}", flush=True)
                on = state == "on"
                with serve(copies["current"], None, on, workers=args.workers) as server:
                    settle(server, background=on)
                    background[state].append(measure(server, args, every))
        report["background_jobs"] = {
            name: {
                "on_rps": median(background["on"], name, "rps"),
                "off_rps": median(background["off"], name, "rps"),
                "cost": round(
                    1
                    - median(background["on"], name, "rps")
                    / median(background["off"], name, "rps"),
                    3,
                ),
            }
            for name in every
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_report("uncached", report)


if __name__ == "__main__":
    main()
