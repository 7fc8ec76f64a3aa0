"""Measure what one replica of the service uses, to size the Deployment's requests/limits.

Run from the repository root with the development environment:

    .venv/bin/python deploy/kubernetes/measure_resources.py [--requests 3000]

It starts an embedded PostgreSQL on its own (as an external database would be in a
cluster, so the figures are the service process's alone), then
`recommendation-engine serve` with DATABASE_URL pointing at it, and samples the serving
process's resident memory (RSS) and CPU time with psutil every 0.1 s while it:

0. `recommendation-engine migrate` on the empty database (the migration Job's work);
1. starts until /ready answers 200;
2. takes MovieLens-100K through `recommendation-engine demo` (1,682 movies, 100,000
   ratings in bulk requests, then a full model rebuild);
3. runs a second full rebuild on its own (the peak of a replica with BACKGROUND_JOBS);
4. answers a bounded request load: user recommendations, similar entities, trending and
   single interaction writes from 16 concurrent clients, all to 127.0.0.1;
5. is stopped with SIGTERM (drain included), and started again on the same data.

It prints one JSON report: RSS and CPU (in cores, averaged over each phase) per phase.
Traffic goes to 127.0.0.1 only and every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from recommendation_engine.storage.database import Database

API_KEY = "measure-api-key"
BIN = Path(sys.executable).parent


class Sampler:
    """Samples one process's RSS and CPU time in a thread; reports per named phase."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.phases: dict[str, dict[str, float]] = {}
        self._phase = "start"
        self._peak = 0
        self._started = time.monotonic()
        self._cpu0 = self._cpu()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _cpu(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self._peak = max(self._peak, self.process.memory_info().rss)
            except psutil.Error:
                return

    def phase(self, name: str) -> None:
        """Close the current phase and start ``name``."""
        now, cpu = time.monotonic(), self._cpu()
        rss = self.process.memory_info().rss
        seconds = now - self._started
        self.phases[self._phase] = {
            "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu - self._cpu0, 2),
            "cpu_cores_avg": round((cpu - self._cpu0) / max(seconds, 1e-9), 3),
            "rss_peak_mib": round(max(self._peak, rss) / 2**20, 1),
            "rss_end_mib": round(rss / 2**20, 1),
        }
        self._phase, self._started, self._cpu0, self._peak = name, now, cpu, rss

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def database_cpu(data_dir: str) -> float:
    """CPU seconds of the embedded PostgreSQL's processes (postmaster and backends)."""
    total = 0.0
    for process in psutil.process_iter(["name", "cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if process.info["name"] == "postgres" and data_dir in command:
            for member in [process, *process.children(recursive=True)]:
                try:
                    times = member.cpu_times()
                except psutil.Error:
                    continue
                total += times.user + times.system
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(base: str, timeout: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the service did not become ready")


def wait_rebuilt(http: httpx.Client, before: int | None) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = http.get("/api/v1/model/status").json()
        if status["version"] not in (None, before) and not status["building"]:
            return
        time.sleep(0.2)
    raise SystemExit("the model was not rebuilt in time")


async def load(base: str, total: int, concurrency: int) -> dict[str, Any]:
    rng = random.Random(7)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[tuple[str, str, dict[str, Any] | None]] = asyncio.Queue()
    for n in range(total):
        kind = n % 10
        if kind < 5:
            queue.put_nowait(("GET", f"/api/v1/recommendations/user/{rng.randint(1, 943)}", None))
        elif kind < 8:
            movie = rng.randint(1, 1682)
            queue.put_nowait(("GET", f"/api/v1/recommendations/entity/{movie}", None))
        elif kind == 8:
            queue.put_nowait(("GET", "/api/v1/recommendations/trending", None))
        else:
            body = {
                "user_id": str(rng.randint(1, 943)),
                "entity_id": str(rng.randint(1, 1682)),
                "entity_type": "movie",
                "interaction_type": "view",
            }
            queue.put_nowait(("POST", "/api/v1/interactions", body))

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            method, path, body = queue.get_nowait()
            started = time.perf_counter()
            response = await http.request(method, path, json=body)
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    headers = {"X-API-Key": API_KEY}
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": total,
        "concurrency": concurrency,
        "seconds": round(elapsed, 1),
        "requests_per_second": round(total / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--movielens", default="data/movielens", help="demo data folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="measure-") as tmp:
        database = Database(None, Path(tmp))
        url = database.start()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "API_KEY": API_KEY,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_LEVEL": "warning",
            # The load comes from one address; a limit would answer it with 429s.
            "RATE_LIMIT_ENABLED": "false",
        }
        report: dict[str, Any] = {"cpu_count": psutil.cpu_count()}
        # What the migration Job and the initContainer do, on an empty database. (The
        # peak RSS of waited-for children: until now only pg_ctl, which is far smaller.)
        started = time.monotonic()
        migrate = [BIN / "recommendation-engine", "migrate"]
        subprocess.run(migrate, env=env, cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        report["migrate_seconds_empty_database"] = round(time.monotonic() - started, 2)
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        report["migrate_rss_peak_mib"] = round(peak_kib / 1024, 1)
        server = subprocess.Popen([BIN / "recommendation-engine", "serve"], env=env, cwd=tmp)
        try:
            sampler = Sampler(server.pid)
            report["seconds_to_ready_migrated_database"] = round(wait_ready(base), 2)
            sampler.phase("demo_load_and_rebuild")
            demo = [BIN / "recommendation-engine", "demo", "--url", base, "--api-key", API_KEY]
            subprocess.run(
                [*demo, "--data-dir", str(Path(args.movielens).resolve())],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            sampler.phase("full_rebuild")
            with httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}, timeout=60) as http:
                before = http.get("/api/v1/model/status").json()["version"]
                http.post("/api/v1/model/rebuild").raise_for_status()
                wait_rebuilt(http, before)
            sampler.phase("idle_after_rebuild")
            time.sleep(5)
            sampler.phase("request_load")
            database_before = database_cpu(tmp)
            report["load"] = asyncio.run(load(base, args.requests, args.concurrency))
            report["load"]["database_cpu_cores_avg"] = round(
                (database_cpu(tmp) - database_before) / report["load"]["seconds"], 3
            )
            sampler.phase("end")
            sampler.stop()
            report["phases"] = sampler.phases
            report["load"]["service_cpu_ms_per_request"] = round(
                sampler.phases["request_load"]["cpu_seconds"] * 1000 / args.requests, 2
            )
            stopping = time.monotonic()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)
            report["seconds_sigterm_to_exit"] = round(time.monotonic() - stopping, 1)
            report["exit_code"] = server.returncode
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
            database.stop()

        # A second start, on the database with the data and model: a rolling update's pod.
        database = Database(None, Path(tmp))
        url = database.start()
        server = subprocess.Popen(
            [BIN / "recommendation-engine", "serve"], env={**env, "DATABASE_URL": url}, cwd=tmp
        )
        try:
            report["seconds_to_ready_with_data"] = round(wait_ready(base), 2)
            report["rss_mib_ready_with_data"] = round(
                psutil.Process(server.pid).memory_info().rss / 2**20, 1
            )
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
            database.stop()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
