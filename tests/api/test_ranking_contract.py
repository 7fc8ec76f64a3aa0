"""What every algorithm of the service must do, through HTTP: hold `count`, never return
what the user has seen, answer the same twice, rank as the engine's pipeline ranks (the
code `evaluate` measures), and never let one tenant's data reach another."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from recommendation_engine.config import LimitSettings, TenancySettings
from recommendation_engine.engine import ensemble, ranking
from recommendation_engine.service.item_lists import unpacked
from recommendation_engine.storage import model_store
from tests.api.test_recommendations import rebuild
from tests.support import client, fetch, make_entity, make_settings, serve

ALGORITHMS = ranking.ALGORITHMS
GENRES = ["drama", "comedy", "horror"]
# Users walk the catalogue: after m<k> comes m<k+1>, within their favourite genre's
# neighbourhood, so both sources have something to say.
HISTORIES = {f"u{n}": [f"m{(n + k) % 15}" for k in range(5)] for n in range(15)}


@pytest.fixture(scope="module")
def world(database_url: str) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two tenants with the same ids and different histories; no response cache, so
    every answer is computed."""
    settings = make_settings(
        database_url,
        tenancy=TenancySettings(enable_multi_tenancy=True),
        limits=LimitSettings(
            max_bulk_items=1000, rate_limit_enabled=False, recommendation_cache_ttl_secs=0
        ),
    )
    with (
        serve(settings) as url,
        client(url, **{"X-Tenant-ID": "one"}) as one,
        client(url, **{"X-Tenant-ID": "two"}) as two,
    ):
        for http, shift in ((one, 0), (two, 7)):
            for n in range(15):
                make_entity(http, f"m{n}", "movie", genre=GENRES[n % 3], decade=f"{n % 4}0s")
            rows = [
                {
                    "user_id": user,
                    "entity_id": f"m{(int(item[1:]) + shift) % 15}",
                    "interaction_type": "view",
                    "timestamp": f"2026-01-01T00:00:{k:02d}Z",
                }
                for user, items in HISTORIES.items()
                for k, item in enumerate(items)
            ]
            assert http.post("/api/v1/interactions/bulk", json={"interactions": rows}).is_success
        make_entity(two, "only-two", "movie", genre="drama", decade="00s")
        rebuild(one)
        rebuild(two)
        yield one, two


def recommend(http: httpx.Client, user: str, algorithm: str, count: int = 5) -> dict:
    response = http.get(
        f"/api/v1/recommendations/user/{user}", params={"algorithm": algorithm, "count": count}
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-Cache"] == "computed"
    return response.json()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("count", [1, 3, 8])
def test_count_is_held_and_the_seen_are_left_out(
    world: tuple[httpx.Client, httpx.Client], algorithm: str, count: int
) -> None:
    one, _ = world
    for user, items in HISTORIES.items():
        body = recommend(one, user, algorithm, count)
        ids = [r["entity_id"] for r in body["recommendations"]]
        assert len(ids) == count == body["count"]
        assert len(set(ids)) == count
        assert not set(ids) & set(items), (user, ids)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_same_request_gets_the_same_answer(
    world: tuple[httpx.Client, httpx.Client], algorithm: str
) -> None:
    one, _ = world
    first, second = recommend(one, "u3", algorithm), recommend(one, "u3", algorithm)
    assert first["recommendations"] == second["recommendations"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_no_tenant_sees_another_ones_entities_or_history(
    world: tuple[httpx.Client, httpx.Client], algorithm: str
) -> None:
    one, two = world
    for user in HISTORIES:
        got = recommend(one, user, algorithm, 14)
        assert "only-two" not in {r["entity_id"] for r in got["recommendations"]}
    # the same user, the same ids: each tenant answers from its own history
    assert recommend(one, "u0", algorithm) != recommend(two, "u0", algorithm)
    similar = one.get("/api/v1/recommendations/entity/m1", params={"algorithm": algorithm})
    assert "only-two" not in {r["entity_id"] for r in similar.json()["recommendations"]}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_service_ranks_as_the_engine_pipeline_does(
    world: tuple[httpx.Client, httpx.Client], database_url: str, algorithm: str
) -> None:
    """An answer is the pipeline's list (the code `evaluate` measures) over the model's
    item lists and the settings saved with its version, read here straight from the
    database."""
    one, _ = world
    numbers, lists = {}, {}
    for row in fetch(
        database_url,
        f"SELECT item, entity_id, {', '.join(model_store.LIST_COLUMNS)} FROM model_items "
        "WHERE tenant_id = 'one'",
    ):
        numbers[row["entity_id"]] = row["item"]
        lists[row["item"]] = unpacked(tuple(row[c] for c in model_store.LIST_COLUMNS))
    (saved,) = fetch(
        database_url, "SELECT config FROM models WHERE tenant_id = 'one' AND state = 'live'"
    )
    config = ensemble.config_from_dict(json.loads(saved["config"]))
    names = {number: entity for entity, number in numbers.items()}
    weights = ranking.source_weights(ranking.Blend(algorithm), config.weights)
    for user, items in HISTORIES.items():
        served = [r["entity_id"] for r in recommend(one, user, algorithm, 5)["recommendations"]]
        history = np.array([numbers[i] for i in items])
        scored = ranking.score_history(
            history, np.ones(len(items)), [lists[i] for i in history], config, weights, history
        )
        expected = [names[i] for i in scored.items[scored.top(5)].tolist()]
        assert served[: len(expected)] == expected, user
