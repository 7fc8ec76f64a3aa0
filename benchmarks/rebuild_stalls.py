"""How long requests wait while a full rebuild runs beside them.

    python -m benchmarks.rebuild_stalls --data-dir DIR [--interval 0.02]

Starts the service on a data directory that is already loaded (for instance the one
`benchmarks.recommendations --data-dir` keeps), asks for a full rebuild, and while it
runs sends `GET /health` one request at a time, every ``--interval`` seconds. The
health route does no I/O, so its latency is the time a request waits for the event
loop: any work the rebuild does on the serving thread shows up here. Reports the
latency percentiles during the rebuild, the slowest requests (with when they came,
counted from the rebuild's request) and the rebuild's time.
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.foundation import write_report
from benchmarks.server import API_KEY, running_server


def probe(url: str, interval: float, stop: threading.Event, samples: list) -> None:
    with httpx.Client(base_url=url, timeout=120) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get("/health").raise_for_status()
            samples.append((time.monotonic(), (time.perf_counter() - started) * 1e3))
            time.sleep(interval)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=0.02)
    args = parser.parse_args()
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    with (
        running_server(data_dir=args.data_dir, quiet=True, BACKGROUND_JOBS="false") as server,
        httpx.Client(base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=900) as http,
    ):
        before = http.get("/api/v1/model/status").json()["version"]
        prober = threading.Thread(
            target=probe, args=(server.url, args.interval, stop, samples), daemon=True
        )
        prober.start()
        requested = time.monotonic()
        http.post("/api/v1/model/rebuild").raise_for_status()
        while http.get("/api/v1/model/status").json()["version"] in (None, before):
            time.sleep(1)
        done = time.monotonic()
        stop.set()
        prober.join()
    during = [(at, ms) for at, ms in samples if requested <= at <= done]
    ordered = sorted(ms for _, ms in during)

    def percentile(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)

    report: dict[str, Any] = {
        "data_dir": str(args.data_dir),
        "rebuild_seconds": round(done - requested, 1),
        "requests": len(ordered),
        "p50_ms": percentile(50),
        "p99_ms": percentile(99),
        "p99_9_ms": percentile(99.9),
        "max_ms": round(ordered[-1], 1),
        "over_100_ms": sum(ms > 100 for ms in ordered),
        "over_1_s": sum(ms > 1000 for ms in ordered),
        "slowest": [
            {"at_s": round(at - requested, 1), "ms": round(ms, 1)}
            for at, ms in sorted(during, key=lambda sample: -sample[1])[:10]
        ],
    }
    write_report("rebuild_stalls", report)


if __name__ == "__main__":
    main()
