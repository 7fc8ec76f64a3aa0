"""Dashboard pages: server time of each page's first render, and of later ones.

    python -m benchmarks.dashboard [--entities 100000] [--interactions 1000000]
                                   [--users 50000] [--repeat 5] [--data-dir DIR]
                                   [--settle 30]

Loads the synthetic catalogue and interaction log (timestamps ending now) into a fresh
service through the bulk API, as benchmarks.recommendations does, and builds the model
(a directory given with --data-dir and loaded already is reused; a rebuild is asked for
either way, which also folds the interactions into the trending data and its counts, as
the background jobs keep them). Then it restarts the service with its background jobs
on, as users run it, lets it settle for `--settle` seconds (loading the live model),
signs in to the dashboard and asks for every page once (the first render: cold caches
in the service) and then `--repeat` times more. The figure is the time from sending the
request to the last byte of the page, over loopback, with the service's own cache on as
in production.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import re
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks import datasets
from benchmarks.foundation import HEADERS, dataset_arguments, write_report
from benchmarks.recommendations import entity_count, load, wait_for_new_model
from benchmarks.server import API_KEY, RunningServer, running_server

LIMIT_MS = 300.0


def sign_in(http: httpx.Client) -> None:
    form = http.get("/dashboard/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    answer = http.post(
        "/dashboard/login",
        data={"csrf_token": token.group(1), "api_key": API_KEY, "next": "/dashboard/"},
    )
    assert answer.status_code == 303, answer.text
    assert "dashboard_session" in http.cookies


def pages(n_entities: int, n_users: int) -> dict[str, str]:
    base = "/dashboard/t/default"
    entity = datasets.entity_id(3)  # a popular one: many interactions, long lists
    user = datasets.user_id(5)  # an active one
    return {
        "overview": f"{base}/",
        "overview: user and interaction counts (loaded after the page)": (
            f"{base}/overview/counts"
        ),
        "entities (search by attribute value)": f"{base}/entities?value=category-1",
        "entities (search by id prefix)": f"{base}/entities?id=item-12",
        "entity": f"{base}/entities/product/{entity}",
        "users": f"{base}/users",
        "user": f"{base}/users/{user}",
        "trending (7 days)": f"{base}/trending",
        "trending (30 days, one type)": f"{base}/trending?window_days=30&entity_type=product",
        "trending (90 days)": f"{base}/trending?window_days=90",
        "model": f"{base}/model",
        "evaluate": f"{base}/evaluate",
        "interaction types": f"{base}/interaction-types",
        "webhooks": f"{base}/webhooks",
        "admin: tenants": "/dashboard/admin/tenants",
        "admin: keys": "/dashboard/admin/keys",
    }


def measure(server: RunningServer, targets: dict[str, str], repeat: int) -> list[dict[str, Any]]:
    results = []
    with httpx.Client(base_url=server.url, timeout=60) as http:
        sign_in(http)
        for name, path in targets.items():
            times = []
            for _ in range(1 + repeat):
                started = time.perf_counter()
                response = http.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, (path, response.status_code)
                times.append(elapsed)
            results.append(
                {
                    "page": name,
                    "path": path,
                    "first_ms": round(times[0], 1),
                    "median_later_ms": round(statistics.median(times[1:]), 1) if repeat else None,
                    "max_later_ms": round(max(times[1:]), 1) if repeat else None,
                    "bytes": len(response.content),
                }
            )
            print(results[-1], flush=True)
    return results


def main() -> None:
    parser = dataset_arguments(
        argparse.ArgumentParser(
            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, help="keep the service's data here, and reuse it")
    parser.add_argument(
        "--settle", type=float, default=30.0, help="seconds between restarting and measuring"
    )
    args = parser.parse_args()
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
    }
    env = {"BACKGROUND_JOBS": "false"}
    with (
        running_server(data_dir=args.data_dir, **env) as server,
        httpx.Client(base_url=server.url, headers=HEADERS, timeout=900) as http,
    ):
        if args.data_dir is not None and asyncio.run(entity_count(server)) > 0:
            print("reusing the data in", args.data_dir, flush=True)
        else:
            load(server, args, datetime.now(UTC), report)
        before = http.get("/api/v1/model/status").json()["version"]
        http.post("/api/v1/model/rebuild").raise_for_status()
        wait_for_new_model(http, before, time.perf_counter())
        data_dir = server.data_dir
        if args.data_dir is None:
            # The same data after a restart: keep the temporary directory meanwhile.
            report["pages"] = restart_and_measure(server, args, env)
            write_report("dashboard", report)
            return
    with running_server(data_dir=data_dir, BACKGROUND_JOBS="true") as fresh:
        time.sleep(args.settle)
        report["pages"] = measure(fresh, pages(args.entities, args.users), args.repeat)
    slow = [p["page"] for p in report["pages"] if p["first_ms"] > LIMIT_MS]
    report["pages_over_limit"] = slow
    write_report("dashboard", report)


def restart_and_measure(
    server: RunningServer, args: argparse.Namespace, env: dict[str, str]
) -> list[dict[str, Any]]:
    """Without --data-dir, the data lives in the running server's temporary directory:
    measure there (its caches were not used by the dashboard yet)."""
    return measure(server, pages(args.entities, args.users), args.repeat)


if __name__ == "__main__":
    main()
