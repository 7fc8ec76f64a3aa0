"""Two versions of the code on the same data, in alternating rounds: which is faster.

    python -m benchmarks.paired --data-dir DIR [--route "user (hybrid)"] [--rounds 3]
                                [--duration 10] [--warm 15] [--clients 16]
                                [--background on|off]
                                [--set NAME=VALUE ...] A B

A and B are git revisions (`git archive`), or "." for the working tree. DIR is a loaded
data directory (as `benchmarks.uncached --data-dir` keeps one, migrated to the code
measured); each side gets a copy of it, made once, so interactions one side writes never
reach the other. Each round starts each side's service afresh (one worker, response
cache off, background jobs as asked) and sends one route (`benchmarks.uncached.routes`)
from 16 closed-loop clients. Besides throughput and p95 it reads, from /proc, the CPU the
service process and PostgreSQL spent per request: on a shared machine that moves less
than the rates. Medians of the rounds and the ratio B/A of each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.foundation import write_report
from benchmarks.loadgen import run_load
from benchmarks.uncached import ROOT, baseline_sources, routes, serve, settle


def cpu_seconds() -> dict[str, float]:
    """CPU time so far of the service processes and of PostgreSQL's, from /proc."""
    found = {"service": 0.0, "database": 0.0}
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        used = (int(fields[11]) + int(fields[12])) / ticks
        if b"postgres" in command:
            found["database"] += used
        elif b"recommendation_engine serve" in command:
            found["service"] += used
    return found


def sources(revision: str, target: Path) -> Path | None:
    """The ``src`` tree of ``revision`` (None for the working tree)."""
    if revision == ".":
        return None
    return baseline_sources(revision, target / revision.replace("/", "_"))


def measure(data_dir: Path, source: Path | None, args: argparse.Namespace) -> dict[str, float]:
    settings = dict(setting.split("=", 1) for setting in args.set)
    with serve(data_dir, source, args.background == "on", **settings) as server:
        settle(server, args.background == "on")
        factory = routes(server, args.entities, args.users)[args.route]
        asyncio.run(
            run_load("warm", "127.0.0.1", server.port, factory, args.clients, args.warm, 1.0)
        )
        before, started = cpu_seconds(), time.perf_counter()
        load = run_load(
            args.route, "127.0.0.1", server.port, factory, args.clients, args.duration, 1.0
        )
        result = asyncio.run(load)
        after = cpu_seconds()
    summary = result.summary()
    requests = max(1, summary["requests"])
    return {
        "rps": summary["rps"],
        "p95_ms": summary["p95_ms"],
        "service_ms_per_request": round(
            (after["service"] - before["service"]) / requests * 1000, 3
        ),
        "database_ms_per_request": round(
            (after["database"] - before["database"]) / requests * 1000, 3
        ),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("a", help='a git revision, or "." for the working tree')
    parser.add_argument("b", help='a git revision, or "." for the working tree')
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--route", default="user (hybrid)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--warm", type=float, default=15.0, help="seconds of unmeasured traffic first"
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--background", choices=("on", "off"), default="on")
    parser.add_argument("--set", action="append", default=[], help="NAME=VALUE for both")
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-paired-"))
    sides = {"a": args.a, "b": args.b}
    runs: dict[str, list[dict[str, float]]] = {"a": [], "b": []}
    try:
        trees = {side: sources(revision, work) for side, revision in sides.items()}
        copies = {side: work / f"{side}-data" for side in sides}
        for copy in copies.values():
            # `cp -a` keeps the owner: the embedded server runs as a user of its own
            subprocess.run(["cp", "-a", str(args.data_dir), str(copy)], check=True)
        for round_number in range(args.rounds):
            for side in sides:
                found = measure(copies[side], trees[side], args)
                runs[side].append(found)
                print(f"round {round_number + 1} {side} ({sides[side]}): {found}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians: dict[str, dict[str, Any]] = {
        side: {
            key: round(statistics.median(run[key] for run in runs[side]), 3)
            for key in runs[side][0]
            if key != "seconds"
        }
        for side in sides
    }
    write_report(
        "paired",
        {
            "a": args.a,
            "b": args.b,
            "commit": subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip(),
            "route": args.route,
            "background_jobs": args.background,
            "settings": args.set,
            "rounds": runs,
            "medians": medians,
            "ratio_b_to_a": {
                key: round(medians["b"][key] / medians["a"][key], 3)
                for key in medians["a"]
                if medians["a"][key]
            },
        },
    )


if __name__ == "__main__":
    main()
