"""Where attributes decide taste, content-based and the default hybrid beat
collaborative filtering, through HTTP: the content neighbour lists reach the service,
and the tuned blend gives content its weight."""

from __future__ import annotations

import math

import httpx
import numpy as np

from tests.api.test_recommendations import rebuild

USERS, ITEMS, GENRES, TAKEN, HELD_OUT = 120, 1500, 60, 8, 2


def test_content_and_hybrid_beat_collaborative_where_attributes_decide_taste(
    api: httpx.Client,
) -> None:
    rng = np.random.default_rng(7)
    genre = rng.integers(0, GENRES, ITEMS)
    entities = [
        {
            "entity_id": f"i{n}",
            "entity_type": "item",
            "attributes": {"genre": f"g{genre[n]}", "noise": f"n{rng.integers(0, 200)}"},
        }
        for n in range(ITEMS)
    ]
    for start in range(0, ITEMS, 100):
        chunk = entities[start : start + 100]
        assert api.post("/api/v1/entities/bulk", json={"entities": chunk}).is_success
    held_out: dict[str, set[str]] = {}
    rows = []
    for user in range(USERS):
        # Each user likes one genre and takes its items in a random order.
        pool = np.flatnonzero(genre == rng.integers(0, GENRES))
        taken = [f"i{n}" for n in rng.choice(pool, min(TAKEN, pool.size), replace=False)]
        held_out[f"u{user}"] = set(taken[-HELD_OUT:])
        rows += [
            {
                "user_id": f"u{user}",
                "entity_id": item,
                "entity_type": "item",
                "interaction_type": "view",
                "timestamp": f"2026-01-01T00:{user // 60:02d}:{k:02d}Z",
            }
            for k, item in enumerate(taken[:-HELD_OUT])
        ]
    for start in range(0, len(rows), 100):
        chunk = rows[start : start + 100]
        assert api.post("/api/v1/interactions/bulk", json={"interactions": chunk}).is_success
    status = rebuild(api)
    assert status["tuning"]["validation"]["chosen"]["ndcg@10"] > 0
    assert status["settings"]["weights"]["content"] > 0  # the tuning found what content adds

    def ndcg(algorithm: str | None) -> float:
        total = 0.0
        for user, wanted in held_out.items():
            params: dict[str, str | int] = {"count": 10}
            if algorithm:
                params["algorithm"] = algorithm
            body = api.get(f"/api/v1/recommendations/user/{user}", params=params).json()
            listed = [r["entity_id"] for r in body["recommendations"]]
            gained = sum(1 / math.log2(k + 2) for k, i in enumerate(listed) if i in wanted)
            ideal = sum(1 / math.log2(k + 2) for k in range(min(len(wanted), 10)))
            total += gained / ideal
        return total / len(held_out)

    collaborative, content, default = ndcg("collaborative"), ndcg("content_based"), ndcg(None)
    assert content > 1.1 * collaborative, (content, collaborative)
    # the default algorithm: the tuned hybrid
    assert default > 1.1 * collaborative, (default, collaborative)
