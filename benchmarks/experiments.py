"""Experiments: are the statistics right, and what does an experiment cost to serve?

    python -m benchmarks.experiments [--runs 200] [--rounds 10] [--duration 3]

1. Simulation through the service's statistics (`engine.experiment_stats.compare`):
   synthetic users, each shown 1 + Poisson(3) recommendation lists, click each list
   with a known probability and convert with another; a click is worth 2, a conversion
   5 (the built-in weights of `click` and `purchase`).
   - A/A: both arms alike (CTR 5 %, conversion 3 %): how often p < 0.05 ("false
     positives"), per metric, over ``--runs`` runs.
   - A/B: the variant's CTR 10 % higher (5.5 % against 5 %), run at the sample size
     planned for 90 % power: how often the 95 % interval of the CTR lift covers the true
     10 %, and how often the variant is found better (lift > 0 at p < 0.05).
2. End to end through a real service (`serve`, embedded database): a catalogue and a
   model, an experiment whose variant clicks twice as often in the simulation, users
   asking for recommendations and clicking with the answer's `recommendation_id`, then
   the results read back from the API.
3. Serving cost: cached user recommendations at 16 concurrent clients with and without
   a running experiment (two variants whose overrides leave the answers as they are),
   in rounds of both, back to back in alternating order, on the same service; the
   median over rounds of the relative cost.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import time
from typing import Any

import httpx
import numpy as np
from scipy import stats

from benchmarks.foundation import HEADERS, write_report
from benchmarks.loadgen import build_request, run_load
from benchmarks.server import RunningServer, running_server
from recommendation_engine.engine.experiment_stats import Arm, compare

CTR, CONVERSION = 0.05, 0.03
TRUE_LIFT = 0.10
MEAN_IMPRESSIONS = 4.0  # 1 + Poisson(3)


def simulated_arm(
    rng: np.random.Generator, name: str, users: int, ctr: float, conversion: float
) -> Arm:
    impressions = 1 + rng.poisson(MEAN_IMPRESSIONS - 1, users)
    clicked = rng.binomial(impressions, ctr)
    conversions = rng.binomial(1, conversion, users)
    value = 2.0 * clicked + 5.0 * conversions
    return Arm(name, 0.5, impressions, clicked, clicked, conversions, value)


def planned_users(ctr: float, lift: float, power: float = 0.9, alpha: float = 0.05) -> int:
    """Users per arm for a two-sided z-test of CTR to find ``lift`` with ``power``."""
    p, q = ctr, ctr * (1 + lift)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    impressions = z * z * (p * (1 - p) + q * (1 - q)) / (q - p) ** 2
    return math.ceil(impressions / MEAN_IMPRESSIONS)


def simulate(runs: int, seed: int = 15) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    aa_users = 5_000
    false_positives = {"ctr": 0, "conversion_rate": 0, "value_per_user": 0}
    for _ in range(runs):
        arms = [
            simulated_arm(rng, "control", aa_users, CTR, CONVERSION),
            simulated_arm(rng, "b", aa_users, CTR, CONVERSION),
        ]
        lift = compare(arms)["variants"][1]["lift"]
        for metric in false_positives:
            false_positives[metric] += lift[metric]["p_value"] < 0.05
    planned = planned_users(CTR, TRUE_LIFT)
    covered = found = 0
    for _ in range(runs):
        arms = [
            simulated_arm(rng, "control", planned, CTR, CONVERSION),
            simulated_arm(rng, "b", planned, CTR * (1 + TRUE_LIFT), CONVERSION),
        ]
        report = compare(arms, planned)
        ctr = report["variants"][1]["lift"]["ctr"]
        covered += ctr["ci_low"] <= TRUE_LIFT <= ctr["ci_high"]
        found += ctr["relative"] > 0 and ctr["p_value"] < 0.05
    return {
        "runs": runs,
        "aa_users_per_arm": aa_users,
        "aa_false_positive_rate": {k: v / runs for k, v in false_positives.items()},
        "ab_true_ctr_lift": TRUE_LIFT,
        "ab_planned_users_per_arm": planned,
        "ab_interval_coverage": covered / runs,
        "ab_better_variant_found": found / runs,
    }


# -- through the service ------------------------------------------------------------------


def seed_catalogue(http: httpx.Client, entities: int, users: int) -> None:
    rng = np.random.default_rng(3)
    rows = [
        {"entity_id": f"p{n}", "entity_type": "product", "attributes": {"c": f"c{n % 20}"}}
        for n in range(entities)
    ]
    http.post("/api/v1/entities/bulk", json={"entities": rows}).raise_for_status()
    interactions = [
        {"user_id": f"u{u}", "entity_id": f"p{int(i)}", "interaction_type": "view"}
        for u in range(users)
        for i in rng.integers(0, entities, 5)
    ]
    for start in range(0, len(interactions), 5000):
        chunk = interactions[start : start + 5000]
        http.post("/api/v1/interactions/bulk", json={"interactions": chunk}).raise_for_status()
    before = http.get("/api/v1/model/status").json()["version"]
    http.post("/api/v1/model/rebuild").raise_for_status()
    while http.get("/api/v1/model/status").json()["version"] in (None, before):
        time.sleep(0.2)


def new_experiment(http: httpx.Client, name: str) -> str:
    """Two variants whose overrides leave the answers as they are (the requests ask for
    hybrid already): the rounds with and without differ only by the experiment's work,
    not by the size of the answers."""
    body = {
        "name": name,
        "route": "user",
        "variants": [
            {"name": "a", "share": 0.34, "overrides": {"algorithm": "hybrid"}},
            {"name": "b", "share": 0.33, "overrides": {"algorithm": "hybrid", "count": 10}},
        ],
    }
    created = http.post("/api/v1/experiments", json=body).json()
    http.post(f"/api/v1/experiments/{created['id']}/start").raise_for_status()
    return created["id"]


def end_to_end(server: RunningServer, users: int) -> dict[str, Any]:
    """Users in two arms; the variant's users click the top item twice as often."""
    rng = np.random.default_rng(8)
    click_probability = {"control": 0.15, "double": 0.30}
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=60) as http:
        body = {
            "name": "end to end",
            "route": "user",
            "variants": [{"name": "double", "share": 0.5}],
            "planned_users_per_variant": users // 2,
        }
        experiment = http.post("/api/v1/experiments", json=body).json()
        http.post(f"/api/v1/experiments/{experiment['id']}/start").raise_for_status()
        started = time.perf_counter()
        clicks = []
        sent = {"control": 0, "double": 0}
        empty = 0
        for u in range(users):
            answer = http.get(f"/api/v1/recommendations/user/s{u}?count=5").json()
            variant = answer["experiment"]["variant"]
            empty += not answer["recommendations"]
            if answer["recommendations"] and rng.random() < click_probability[variant]:
                sent[variant] += 1
                clicks.append(
                    {
                        "user_id": f"s{u}",
                        "entity_id": answer["recommendations"][0]["entity_id"],
                        "entity_type": "product",
                        "interaction_type": "click",
                        "recommendation_id": answer["recommendation_id"],
                    }
                )
        for start in range(0, len(clicks), 5000):
            chunk = clicks[start : start + 5000]
            http.post("/api/v1/interactions/bulk", json={"interactions": chunk}).raise_for_status()
        time.sleep(2)  # impressions are written every second
        results = http.get(f"/api/v1/experiments/{experiment['id']}/results").json()
        http.post(f"/api/v1/experiments/{experiment['id']}/stop").raise_for_status()
    arms = {v["name"]: v for v in results["variants"]}
    return {
        "users": users,
        "seconds": round(time.perf_counter() - started, 1),
        "true_ctr": click_probability,
        "users_per_arm": {k: v["users"] for k, v in arms.items()},
        "answers_without_items": empty,
        "clicks_sent": sent,
        "clicks_attributed": {k: v["clicks"] for k, v in arms.items()},
        "ctr": {k: round(v["ctr"]["value"], 4) for k, v in arms.items()},
        "ctr_lift": arms["double"]["lift"]["ctr"],
        "sample_ratio_mismatch": results["sample_ratio_mismatch"],
        "warnings": results["warnings"],
    }


def serving_cost(server: RunningServer, rounds: int, duration: float) -> dict[str, Any]:
    """Rounds of both modes back to back, their order alternating (without-with, then
    with-without, ...): the cost is the median over rounds of 1 - with/without, which a
    machine whose load drifts disturbs least."""
    host = f"127.0.0.1:{server.port}"
    paths = [f"/api/v1/recommendations/user/u{n}?count=10" for n in range(1000)]

    def factory(i: int) -> bytes:
        return build_request("GET", paths[i % len(paths)], host, HEADERS)

    figures: dict[str, list[float]] = {"without": [], "with": []}
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=60) as http:
        for round_ in range(rounds):
            order = ("without", "with") if round_ % 2 == 0 else ("with", "without")
            for mode in order:
                experiment = new_experiment(http, f"cost {round_}") if mode == "with" else None
                for path in paths:  # fill the cache, every variant's keys included
                    http.get(path).raise_for_status()
                result = asyncio.run(
                    run_load(mode, "127.0.0.1", server.port, factory, 16, duration, warmup=1.0)
                )
                figures[mode].append(result.rps)
                print(mode, result.summary(), flush=True)
                if experiment is not None:
                    http.post(f"/api/v1/experiments/{experiment}/stop").raise_for_status()
    costs = [1 - w / wo for w, wo in zip(figures["with"], figures["without"], strict=True)]
    return {
        "rounds": rounds,
        "duration_s": duration,
        "rps_without": figures["without"],
        "rps_with": figures["with"],
        "median_rps_without": round(statistics.median(figures["without"]), 1),
        "median_rps_with": round(statistics.median(figures["with"]), 1),
        "cost_per_round": [round(c, 4) for c in costs],
        "median_cost": round(statistics.median(costs), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--e2e-users", type=int, default=2000)
    args = parser.parse_args()
    started = time.perf_counter()
    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs",
        "simulation": simulate(args.runs),
        # the same A/A and A/B runs ten times over: how the 200-run rates converge
        "simulation_10x": simulate(10 * args.runs, seed=16),
    }
    print(report, flush=True)
    with running_server(quiet=True) as server:
        with httpx.Client(base_url=server.url, headers=HEADERS, timeout=120) as http:
            seed_catalogue(http, entities=2000, users=1000)
        report["end_to_end"] = end_to_end(server, args.e2e_users)
        print(report["end_to_end"], flush=True)
        report["serving_cost"] = serving_cost(server, args.rounds, args.duration)
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_report("experiments", report)


if __name__ == "__main__":
    main()
