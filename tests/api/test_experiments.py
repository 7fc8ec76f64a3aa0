"""Experiments through HTTP: managing them, assignment, recommendation ids, impressions,
attribution and results, and online evaluation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from recommendation_engine.config import ExperimentSettings, LimitSettings
from recommendation_engine.storage import impressions
from tests.api.test_recommendations import rebuild
from tests.support import assert_error, client, count, fetch, make_entity, make_settings, serve

URL = "/api/v1/experiments"


@pytest.fixture(scope="module")
def fast_url(database_url: str) -> Iterator[str]:
    """An app that writes impressions every 50 ms, with the response cache on."""
    settings = make_settings(
        database_url,
        experiments=ExperimentSettings(impression_flush_interval_secs=0.05),
        limits=LimitSettings(recommendation_cache_ttl_secs=300, rate_limit_enabled=False),
    )
    with serve(settings) as url:
        yield url


@pytest.fixture
def http(fast_url: str, clean_db: str) -> Iterator[httpx.Client]:
    with client(fast_url) as api:
        yield api
    time.sleep(0.2)  # the app writes what is buffered before the next test empties the tables


@pytest.fixture
def shop(http: httpx.Client) -> httpx.Client:
    """Twelve products, forty users who each viewed three, and a live model."""
    for n in range(12):
        make_entity(http, f"p{n}", "product", category=f"c{n % 3}")
    rows = [
        {"user_id": f"u{u}", "entity_id": f"p{(u + k) % 12}", "interaction_type": "view"}
        for u in range(40)
        for k in range(3)
    ]
    assert http.post("/api/v1/interactions/bulk", json={"interactions": rows}).status_code == 200
    rebuild(http)
    return http


def experiment(**changes: object) -> dict:
    body: dict = {
        "name": "content vs default",
        "route": "user",
        "variants": [
            {"name": "content", "share": 0.5, "overrides": {"algorithm": "content_based"}}
        ],
    }
    body.update(changes)
    return body


def created(http: httpx.Client, **changes: object) -> dict:
    response = http.post(URL, json=experiment(**changes))
    assert response.status_code == 201, response.text
    return response.json()


def started(http: httpx.Client, **changes: object) -> dict:
    found = created(http, **changes)
    response = http.post(f"{URL}/{found['id']}/start")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_impressions(database_url: str, at_least: int) -> None:
    deadline = time.monotonic() + 10
    while count(database_url, "impressions") < at_least:
        assert time.monotonic() < deadline, "impressions were not written"
        time.sleep(0.05)


def test_an_experiment_is_created_read_listed_started_and_stopped(http: httpx.Client) -> None:
    found = created(http, planned_users_per_variant=500)
    assert found["state"] == "draft" and found["control_share"] == 0.5
    assert found["click_types"] == ["click", "view"]
    assert found["conversion_types"] == ["purchase", "add_to_cart"]
    assert found["variants"] == [
        {"name": "content", "share": 0.5, "overrides": {"algorithm": "content_based"}}
    ]
    assert http.get(f"{URL}/{found['id']}").json() == found
    assert [e["id"] for e in http.get(URL).json()] == [found["id"]]
    running = http.post(f"{URL}/{found['id']}/start").json()
    assert running["state"] == "running" and running["started_at"] is not None
    assert_error(http.post(f"{URL}/{found['id']}/start"), 409, "conflict")
    stopped = http.post(f"{URL}/{found['id']}/stop").json()
    assert stopped["state"] == "stopped" and stopped["stopped_at"] is not None
    assert_error(http.post(f"{URL}/{found['id']}/stop"), 409, "conflict")
    assert_error(http.post(f"{URL}/{found['id']}/start"), 409, "conflict")


def test_one_experiment_per_route_runs_at_a_time(http: httpx.Client) -> None:
    started(http, route="both")
    for route in ("user", "similar"):
        other = created(http, route=route)
        assert_error(http.post(f"{URL}/{other['id']}/start"), 409, "conflict")
    assert [e["state"] for e in http.get(URL).json()].count("running") == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"variants": []},
        {"variants": [{"name": "a", "share": 0.6}, {"name": "b", "share": 0.5}]},
        {"variants": [{"name": "a", "share": 0.2}, {"name": "a", "share": 0.2}]},
        {"variants": [{"name": "control", "share": 0.2}]},
        {"variants": [{"name": "a", "share": 0}]},
        {"variants": [{"name": "a b", "share": 0.1}]},
        {"variants": [{"name": "a", "share": 0.1, "overrides": {"algorithm": "magic"}}]},
        {"variants": [{"name": "a", "share": 0.1, "overrides": {"count": 101}}]},
        {"variants": [{"name": "a", "share": 0.1, "overrides": {"unknown": 1}}]},
        {
            "variants": [
                {
                    "name": "a",
                    "share": 0.1,
                    "overrides": {"collaborative_weight": 0, "content_based_weight": 0},
                }
            ]
        },
        {"route": "everywhere"},
        {"name": ""},
        {"click_types": ["teleport"]},
        {"click_types": ["purchase"]},
        {"planned_users_per_variant": 0},
        {"planned_users_per_variant": "10"},
        {"variants": [{"name": "a", "share": "0.5"}]},
        {"variants": [{"name": "a", "share": True}]},
        {"variants": [{"name": "a", "share": 0.1, "overrides": {"count": True}}]},
        {"variants": [{"name": "a", "share": 0.1, "overrides": {"exclude_seen": "no"}}]},
        {"extra": True},
    ],
)
def test_bad_experiments_are_refused_and_nothing_is_stored(
    http: httpx.Client, clean_db: str, changes: dict
) -> None:
    assert_error(http.post(URL, json=experiment(**changes)), 422, "validation_error")
    assert count(clean_db, "experiments") == 0


def test_unknown_and_malformed_ids(http: httpx.Client) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for path in ("", "/start", "/stop", "/results"):
        method = "POST" if path in ("/start", "/stop") else "GET"
        assert_error(http.request(method, f"{URL}/{missing}{path}"), 404, "not_found")
        assert_error(http.request(method, f"{URL}/not-a-uuid{path}"), 422, "validation_error")


def test_every_answer_has_its_own_recommendation_id_cached_or_not(shop: httpx.Client) -> None:
    first = shop.get("/api/v1/recommendations/user/u1")
    second = shop.get("/api/v1/recommendations/user/u1")
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("computed", "memory")
    a, b = first.json(), second.json()
    assert a.pop("recommendation_id") != b.pop("recommendation_id")
    assert a == b and "experiment" not in a
    for path in ("/api/v1/recommendations/entity/p1", "/api/v1/recommendations/trending"):
        ids = {shop.get(path).json()["recommendation_id"] for _ in range(3)}
        assert len(ids) == 3


def test_each_impression_lists_what_its_answer_showed_computed_or_cached(
    shop: httpx.Client, clean_db: str
) -> None:
    paths = {
        "user": "/api/v1/recommendations/user/u1?count=4",
        "similar": "/api/v1/recommendations/entity/p1?count=3",
        "trending": "/api/v1/recommendations/trending?count=5",
    }
    answers = []
    for route, path in paths.items():
        for source in ("computed", "memory"):
            response = shop.get(path)
            assert response.headers["x-cache"] == source
            answers.append((route, response.json()))
    wait_for_impressions(clean_db, len(answers))
    stored = {
        r["id"]: r
        for r in fetch(
            clean_db,
            "SELECT recommendation_id::text AS id, route, entity_types, entity_ids "
            "FROM impressions",
        )
    }
    for route, body in answers:
        listed = body["trending" if route == "trending" else "recommendations"]
        assert listed, route
        impression = stored[body["recommendation_id"]]
        assert impression["route"] == route
        assert impression["entity_types"] == [r["entity_type"] for r in listed]
        assert impression["entity_ids"] == [r["entity_id"] for r in listed]


def test_assignment_is_sticky_and_the_variant_overrides_the_request(
    shop: httpx.Client,
) -> None:
    found = started(
        shop,
        variants=[
            {"name": "short", "share": 0.5, "overrides": {"algorithm": "content_based", "count": 2}}
        ],
    )
    seen: dict[str, str] = {}
    for _ in range(2):
        for n in range(40):
            body = shop.get(f"/api/v1/recommendations/user/u{n}?count=5").json()
            assert body["experiment"]["id"] == found["id"]
            variant = body["experiment"]["variant"]
            assert seen.setdefault(f"u{n}", variant) == variant  # sticky
            if variant == "short":
                assert body["algorithm"] == "content_based" and body["count"] <= 2
            else:
                assert variant == "control" and body["algorithm"] == "hybrid"
                assert body["count"] == 5
    assert 8 <= list(seen.values()).count("short") <= 32
    # the similar route is not part of a "user" experiment
    similar = shop.get("/api/v1/recommendations/entity/p1?user_id=u1").json()
    assert "experiment" not in similar


def test_results_attribute_interactions_to_impressions(shop: httpx.Client, clean_db: str) -> None:
    found = started(shop, planned_users_per_variant=1000)
    answers = {f"u{n}": shop.get(f"/api/v1/recommendations/user/u{n}").json() for n in range(40)}
    wait_for_impressions(clean_db, 40)
    arms = {"content": [], "control": []}
    for user, body in answers.items():
        arms[body["experiment"]["variant"]].append(user)
    assert arms["content"] and arms["control"]
    clicker = arms["content"][0]
    shown = answers[clicker]["recommendations"][0]["entity_id"]
    # a click naming the answer, a purchase attributed by the window, a view of
    # something never shown (not attributed)
    for payload in (
        {"interaction_type": "click", "recommendation_id": answers[clicker]["recommendation_id"]},
        {"interaction_type": "purchase"},
    ):
        response = shop.post(
            "/api/v1/interactions", json={"user_id": clicker, "entity_id": shown, **payload}
        )
        assert response.status_code == 201, response.text
    never_shown = next(
        f"p{n}"
        for n in range(12)
        if f"p{n}" not in {r["entity_id"] for r in answers[clicker]["recommendations"]}
    )
    shop.post(
        "/api/v1/interactions",
        json={"user_id": clicker, "entity_id": never_shown, "interaction_type": "click"},
    ).raise_for_status()
    stored = fetch(
        clean_db,
        "SELECT recommendation_id::text AS id FROM interactions WHERE interaction_type = 'click'",
    )
    assert {r["id"] for r in stored} == {answers[clicker]["recommendation_id"], None}
    results = shop.get(f"{URL}/{found['id']}/results").json()
    assert results["baseline"] == "control"
    by_name = {v["name"]: v for v in results["variants"]}
    content, control = by_name["content"], by_name["control"]
    assert (content["users"], control["users"]) == (len(arms["content"]), len(arms["control"]))
    assert content["impressions"] == len(arms["content"])
    assert (content["clicks"], content["clicked_impressions"], content["conversions"]) == (1, 1, 1)
    assert content["converted_users"] == 1
    assert content["ctr"]["value"] == pytest.approx(1 / len(arms["content"]))
    assert content["ctr"]["ci_low"] < content["ctr"]["value"] < content["ctr"]["ci_high"]
    # click (2) + purchase (5), spread over the arm's users
    assert content["value_per_user"]["value"] == pytest.approx(7 / len(arms["content"]))
    assert (control["clicks"], control["conversions"]) == (0, 0)
    assert control["lift"] is None
    assert set(content["lift"]) == {"ctr", "conversion_rate", "value_per_user"}
    assert content["lift"]["ctr"]["relative"] is None  # no control clicks: no ratio
    assert results["sample_ratio_mismatch"]["flagged"] is False
    assert not results["planned_sample_reached"]
    assert "fixed-horizon" in results["warnings"][0]


def test_an_old_impression_is_outside_the_window(shop: httpx.Client, clean_db: str) -> None:
    found = started(shop, variants=[{"name": "all", "share": 1.0}])
    body = shop.get("/api/v1/recommendations/user/u3").json()
    wait_for_impressions(clean_db, 1)
    shown = body["recommendations"][0]["entity_id"]
    late = (datetime.now(UTC) + timedelta(hours=25)).isoformat()
    for kind, at in (("click", late), ("view", None)):
        shop.post(
            "/api/v1/interactions",
            json={"user_id": "u3", "entity_id": shown, "interaction_type": kind, "timestamp": at},
        ).raise_for_status()
    results = shop.get(f"{URL}/{found['id']}/results").json()
    assert results["baseline"] == "all"  # shares add up to 1: no control
    (arm,) = results["variants"]
    assert (arm["clicks"], arm["clicked_impressions"]) == (1, 1)  # the view only


def test_bulk_interactions_carry_recommendation_ids(shop: httpx.Client, clean_db: str) -> None:
    body = shop.get("/api/v1/recommendations/user/u5").json()
    rid = body["recommendation_id"]
    shown = body["recommendations"][0]["entity_id"]
    rows = [
        {"user_id": "u5", "entity_id": shown, "interaction_type": "click", "recommendation_id": rid}
    ]
    assert (
        shop.post("/api/v1/interactions/bulk", json={"interactions": rows}).json()["created"] == 1
    )
    bad = [{**rows[0], "recommendation_id": "nope"}]
    assert shop.post("/api/v1/interactions/bulk", json={"interactions": bad}).json()["failed"] == 1
    assert_error(shop.post("/api/v1/interactions", json=bad[0]), 422, "validation_error")
    stored = fetch(
        clean_db,
        "SELECT recommendation_id::text AS id FROM interactions "
        "WHERE recommendation_id IS NOT NULL",
    )
    assert stored == [{"id": rid}]


def test_online_evaluation_by_route_and_algorithm(shop: httpx.Client, clean_db: str) -> None:
    shop.get("/api/v1/recommendations/entity/p1?user_id=u7")
    user = shop.get("/api/v1/recommendations/user/u7?algorithm=collaborative").json()
    shop.get("/api/v1/recommendations/user/u8?algorithm=collaborative")
    wait_for_impressions(clean_db, 3)
    shown = user["recommendations"][0]["entity_id"]
    shop.post(
        "/api/v1/interactions",
        json={"user_id": "u7", "entity_id": shown, "interaction_type": "click"},
    ).raise_for_status()
    report = shop.get("/api/v1/evaluation/online?bucket=day").json()
    assert report["bucket"] == "day"
    points = {(p["route"], p["algorithm"]): p for p in report["series"]}
    assert set(points) == {("user", "collaborative"), ("similar", "hybrid")}
    collaborative = points[("user", "collaborative")]
    assert (collaborative["impressions"], collaborative["clicked_impressions"]) == (2, 1)
    assert collaborative["ctr"]["value"] == 0.5
    assert points[("similar", "hybrid")]["clicked_impressions"] == 0
    assert_error(shop.get("/api/v1/evaluation/online?bucket=week"), 422, "validation_error")
    assert_error(
        shop.get("/api/v1/evaluation/online?click_types=view&conversion_types=view"),
        422,
        "validation_error",
    )


def test_variant_metrics_are_exported(shop: httpx.Client) -> None:
    found = started(shop)
    for n in range(10):
        shop.get(f"/api/v1/recommendations/user/u{n}")
    text = shop.get("/metrics").text
    lines = [line for line in text.splitlines() if line.startswith("experiment_impressions_total{")]
    assert lines and all(found["id"] in line for line in lines)
    assert sum(float(line.rsplit(" ", 1)[1]) for line in lines) == 10
    assert 'recommendation_impressions_total{algorithm="hybrid",route="user"}' in text
    shop.post(f"{URL}/{found['id']}/stop").raise_for_status()
    shop.get("/api/v1/recommendations/user/u1")
    assert found["id"] not in shop.get("/metrics").text  # a stopped experiment's series go


def test_impressions_older_than_the_retention_are_pruned(shop: httpx.Client, clean_db: str) -> None:
    for n in range(3):
        shop.get(f"/api/v1/recommendations/user/u{n}")
    wait_for_impressions(clean_db, 3)
    fetch(
        clean_db,
        "UPDATE impressions SET shown_at = now() - interval '40 days' "
        "WHERE user_id IN ('u0', 'u1') RETURNING 1",
    )

    async def prune() -> list[int]:
        conn = await asyncpg.connect(clean_db)
        try:
            return [await impressions.prune(conn, timedelta(days=30), batch=1) for _ in range(3)]
        finally:
            await conn.close()

    assert asyncio.run(prune()) == [1, 1, 0]
    assert [r["user_id"] for r in fetch(clean_db, "SELECT user_id FROM impressions")] == ["u2"]
