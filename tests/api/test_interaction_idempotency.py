"""Idempotent event ids and concurrent recording: every interaction stored exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support import client, fetch, make_entity

URL = "/api/v1/interactions"


def test_a_replayed_event_id_returns_the_first_interaction(
    api: httpx.Client, clean_db: str
) -> None:
    make_entity(api, "p1")
    body = {"user_id": "u1", "entity_id": "p1", "interaction_type": "like", "event_id": "evt-1"}
    first = api.post(URL, json=body)
    assert first.status_code == 201
    second = api.post(URL, json=body)
    assert second.status_code == 200
    assert second.json() == first.json()
    # a retry that differs in its payload is still the same event
    third = api.post(URL, json={**body, "interaction_type": "purchase"})
    assert third.status_code == 200
    assert third.json()["id"] == first.json()["id"]
    assert third.json()["interaction_type"] == "like"

    rows = fetch(clean_db, "SELECT id, event_id FROM interactions")
    assert rows == [{"id": first.json()["id"], "event_id": "evt-1"}]


def post_all(base_url: str, bodies: list[dict]) -> list[httpx.Response]:
    def post(body: dict) -> httpx.Response:
        with client(base_url) as http:
            return http.post(URL, json=body)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_concurrent_posts_are_each_stored_once(
    api: httpx.Client, base_url: str, clean_db: str
) -> None:
    make_entity(api, "p1")
    make_entity(api, "p2")
    bodies = [
        {
            "user_id": f"u{i % 7}",
            "entity_id": f"p{i % 2 + 1}",
            "interaction_type": "view",
            "event_id": f"evt-{i}",
        }
        for i in range(50)
    ]
    responses = post_all(base_url, bodies)
    assert [r.status_code for r in responses] == [201] * 50
    returned = {r.json()["event_id"]: r.json() for r in responses}
    assert set(returned) == {f"evt-{i}" for i in range(50)}
    for body in bodies:
        got = returned[body["event_id"]]
        assert (got["user_id"], got["entity_id"]) == (body["user_id"], body["entity_id"])

    rows = fetch(clean_db, "SELECT id, event_id, user_id, entity_id FROM interactions")
    assert len(rows) == 50
    assert {row["event_id"] for row in rows} == set(returned)
    assert {row["id"] for row in rows} == {r["id"] for r in returned.values()}


def test_concurrent_identical_posts_without_event_ids_are_all_stored(
    api: httpx.Client, base_url: str, clean_db: str
) -> None:
    make_entity(api, "p1")
    body = {
        "user_id": "u1",
        "entity_id": "p1",
        "interaction_type": "click",
        "timestamp": "2024-01-01T00:00:00Z",
    }
    responses = post_all(base_url, [body] * 50)
    assert [r.status_code for r in responses] == [201] * 50
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 50
    rows = fetch(clean_db, "SELECT id FROM interactions")
    assert {row["id"] for row in rows} == ids


def test_concurrent_retries_of_one_event_store_it_once(
    api: httpx.Client, base_url: str, clean_db: str
) -> None:
    make_entity(api, "p1")
    body = {"user_id": "u1", "entity_id": "p1", "interaction_type": "purchase", "event_id": "e"}
    responses = post_all(base_url, [body] * 50)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 49 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(fetch(clean_db, "SELECT id FROM interactions")) == 1
