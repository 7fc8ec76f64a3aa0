"""The uncached read routes on a data directory loaded already, without rebuilding.

    python -m benchmarks.routes --data-dir DIR [--entities 100000] [--users 50000]
                                [--runs 3] [--duration 15] [--warm 15] [--clients 16]

Starts the service on DIR (background jobs off, response cache off, one worker) and
sends similar entities and then user recommendations (hybrid, as
`benchmarks.uncached.routes` asks for them: users drawn from all of them, entities from
the most popular tenth) from 16 closed-loop clients, `--runs` times each, printing
every run (`benchmarks.uncached.measure`: `--warm` seconds of unmeasured traffic, then
`--duration` seconds): the first runs show a service whose buffer pool is still cold.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.foundation import dataset_arguments
from benchmarks.uncached import measure, serve


def main() -> None:
    parser = dataset_arguments(
        argparse.ArgumentParser(
            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warm", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    with serve(args.data_dir, None, background=False) as server:
        for name in ("similar (hybrid)", "user (hybrid)"):
            for run in range(1, args.runs + 1):
                print(f"run {run}:", flush=True)
                measure(server, args, (name,))


if __name__ == "__main__":
    main()
