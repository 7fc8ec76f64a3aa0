"""Recommendation quality through the running service, beside `evaluate`'s figure.

    python -m benchmarks.movielens_service [--min-rating 4]

The protocol is the held-out one of `benchmarks.harness`: MovieLens-100K, per user the
interactions sorted by (timestamp, item id) and the last 20 % held out; the whole
catalogue ranked minus the user's training items. The training part is loaded into a
fresh service through the bulk API (every movie with the attributes the demo gives it;
every kept rating a `view` of weight 1 at its timestamp, in that order), the model is
rebuilt once (and tuned, as every full rebuild is; background jobs are off, so no build
starts on a part of the data), and
GET /api/v1/recommendations/user/{id}?count=10 is asked for every test user with the
default algorithm and no parameters, then with each algorithm named.

Beside each, the same figure offline: `evaluate`'s scorers (the engine's ranking
pipeline) over a model built from the same training part as a rebuild builds it
(`tuning.build`), its items numbered by key as the service's build numbers them.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import httpx
import numpy as np

from benchmarks.harness import holdout_split, load, vectors_of
from benchmarks.server import API_KEY, running_server
from recommendation_engine.engine import ensemble, tuning
from recommendation_engine.engine.evaluation import evaluate, one_at_a_time
from recommendation_engine.engine.vocabulary import Vocabulary
from recommendation_engine.service.offline_evaluation import algorithm_scorers

METRICS = ("ndcg@10", "recall@10", "hr@10", "precision@10", "map@10")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--min-rating", type=float, default=None)
    args = parser.parse_args()
    data = load(args.min_rating)
    # Items numbered by key, as the service's build numbers them (ties between items
    # are broken by number, so both sides must number alike to rank alike).
    keys, renumbered = Vocabulary(("movie", key) for key in data.item_ids).sorted()
    ids = [key for _, key in keys.keys]
    attributes = [data.attributes[old] for old in np.argsort(renumbered)]
    train, test = holdout_split(data.log.renumbered(renumbered))
    with (
        # One build, the one asked for (none started by the data arriving).
        running_server(BACKGROUND_JOBS="false") as server,
        httpx.Client(base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=300) as http,
    ):
        entities = [
            {"entity_id": key, "entity_type": "movie", "attributes": given}
            for key, given in zip(ids, attributes, strict=True)
        ]
        for start in range(0, len(entities), 5_000):
            http.post(
                "/api/v1/entities/bulk", json={"entities": entities[start : start + 5_000]}
            ).raise_for_status()
        rows = [
            {
                "user_id": f"u{int(u)}",
                "entity_id": ids[int(i)],
                "entity_type": "movie",
                "interaction_type": "view",
                "weight": 1.0,
                "timestamp": datetime.fromtimestamp(float(t), UTC).isoformat(),
            }
            for u, i, t in zip(train.users, train.items, train.times, strict=True)
        ]
        for start in range(0, len(rows), 10_000):
            result = http.post(
                "/api/v1/interactions/bulk", json={"interactions": rows[start : start + 10_000]}
            ).json()
            assert result["failed"] == 0, result["errors"][:3]
        before = http.get("/api/v1/model/status").json()["version"]
        http.post("/api/v1/model/rebuild").raise_for_status()
        while (status := http.get("/api/v1/model/status").json())["version"] in (None, before):
            time.sleep(0.5)
        print(f"service: {status['settings']}")
        print(f"         tuning {status['tuning']}")
        built = tuning.build(train, vectors_of(attributes), ensemble.EnsembleConfig())
        chosen = built.config_dict()
        print(f"offline: {{'sequential': {chosen['sequential']}, 'weights': {chosen['weights']}}}")
        print(f"         tuning {chosen['tuning']}")
        offline = algorithm_scorers(built.model, train)
        tested = sorted({int(u) for u in test.users})
        number = {key: position for position, key in enumerate(ids)}
        print(f"{'algorithm':<16}{'':>10}" + "".join(f"{m:>13}" for m in METRICS))
        for algorithm in (None, "collaborative", "content_based", "hybrid"):
            answers: dict[int, list[str]] = {}
            started = time.perf_counter()
            for user in tested:
                params: dict[str, object] = {"count": 10}
                if algorithm:
                    params["algorithm"] = algorithm
                body = http.get(f"/api/v1/recommendations/user/u{user}", params=params).json()
                answers[user] = [r["entity_id"] for r in body["recommendations"]]
            seconds = time.perf_counter() - started

            def scorer(user: int, answers: dict[int, list[str]] = answers) -> np.ndarray:
                scores = np.full(train.n_items, -np.inf)
                for rank, key in enumerate(answers.get(user, [])):
                    scores[number[key]] = 100.0 - rank
                return scores

            served = evaluate(one_at_a_time(scorer), train, test)
            expected = evaluate(offline[algorithm or "hybrid"], train, test)
            name = algorithm or "default"
            for label, metrics in (("offline", expected), ("HTTP", served)):
                print(
                    f"{name:<16}{label:>10}" + "".join(f"{metrics[m]:>13.4f}" for m in METRICS),
                    flush=True,
                )
            print(
                f"{'':<16}{'difference':>10}"
                + "".join(f"{served[m] - expected[m]:>+13.4f}" for m in METRICS)
                + f"   ({len(answers) / seconds:.0f} req/s sequential)",
                flush=True,
            )


if __name__ == "__main__":
    main()
