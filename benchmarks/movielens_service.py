"""The offline evaluation, through the running service.

    python -m benchmarks.movielens_service

Loads MovieLens-100K's training split (the same temporal split as `evaluate`) into a
fresh service through the bulk API (movies with the attributes `evaluate` reads from
the .item file, so both see the same feature vectors; every rating a `view`
interaction of weight 1 with its timestamp), rebuilds the model, asks
GET /api/v1/recommendations/user/{id}?count=10 for every test user with each algorithm,
and scores the answers with the same metrics as `recommendation-engine evaluate`. Beside
each, the same figure offline: the engine's ranking pipeline (`evaluate`'s scorers) on
a model fitted with the service's default settings, so the two differ only where the
service's path does (the approximate vector search, tie order).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import numpy as np

from benchmarks.movielens import fetch
from benchmarks.server import API_KEY, running_server
from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine.evaluation import evaluate, one_at_a_time, temporal_split
from recommendation_engine.service.offline_evaluation import (
    algorithm_scorers,
    read_dataset,
    read_item_attributes,
)

METRICS = ("ndcg@10", "recall@10", "hr@10", "precision@10", "map@10")


def main() -> None:
    path = fetch()
    dataset = read_dataset(path)
    train, test = temporal_split(dataset.log)
    attributes = read_item_attributes(path.with_suffix(".item"))
    items = dataset.items.keys
    users = sorted({int(u) for u in dataset.log.users})
    with (
        running_server() as server,
        httpx.Client(base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=300) as http,
    ):
        entities = [
            {
                "entity_id": key,
                "entity_type": "movie",
                "attributes": attributes.get(key, {}),
            }
            for key in items
        ]
        http.post("/api/v1/entities/bulk", json={"entities": entities}).raise_for_status()
        rows = [
            {
                "user_id": f"u{int(u)}",
                "entity_id": items[int(i)],
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
        http.post("/api/v1/model/rebuild").raise_for_status()
        while http.get("/api/v1/model/status").json()["state"] != "live":
            time.sleep(0.5)
        tested = {int(u) for u in test.users}
        offline = algorithm_scorers(knn.fit(train), train, dataset.vectors, (0.6, 0.4))
        print(f"{'algorithm':<14}{'':>10}" + "".join(f"{m:>13}" for m in METRICS))
        for algorithm in ("collaborative", "content_based", "hybrid"):
            answers: dict[int, list[str]] = {}
            started = time.perf_counter()
            for user in users:
                if user not in tested:
                    continue
                body = http.get(
                    f"/api/v1/recommendations/user/u{user}",
                    params={"count": 10, "algorithm": algorithm},
                ).json()
                answers[user] = [r["entity_id"] for r in body["recommendations"]]
            seconds = time.perf_counter() - started

            def scorer(user: int, answers: dict[int, list[str]] = answers) -> np.ndarray:
                scores = np.full(train.n_items, -np.inf)
                for rank, key in enumerate(answers.get(user, [])):
                    scores[dataset.items.index(key)] = 100.0 - rank
                return scores

            served = evaluate(one_at_a_time(scorer), train, test)
            expected = evaluate(offline[algorithm], train, test)
            for label, metrics in (("offline", expected), ("HTTP", served)):
                print(
                    f"{algorithm:<14}{label:>10}"
                    + "".join(f"{metrics[m]:>13.4f}" for m in METRICS),
                    flush=True,
                )
            print(
                f"{'':<14}{'difference':>10}"
                + "".join(f"{served[m] - expected[m]:>+13.4f}" for m in METRICS)
                + f"   ({len(answers) / seconds:.0f} req/s sequential)",
                flush=True,
            )


if __name__ == "__main__":
    main()
