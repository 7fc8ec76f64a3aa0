"""Listing a user's or an entity's interactions: newest first, paged with limit/offset."""

from __future__ import annotations

import httpx
import pytest

from tests.support import assert_error, make_entity

URL = "/api/v1/interactions"
# Recorded out of order on purpose; the listing sorts by timestamp, newest first.
STAMPS = ["2024-01-03", "2024-01-01", "2024-01-05", "2024-01-02", "2024-01-04"]


@pytest.fixture
def history(api: httpx.Client) -> None:
    make_entity(api, "p1")
    make_entity(api, "p2")
    for n, day in enumerate(STAMPS):
        for user, entity in (("alice", "p1"), ("bob", "p2")):
            response = api.post(
                URL,
                json={
                    "user_id": user,
                    "entity_id": entity,
                    "interaction_type": "view",
                    "timestamp": f"{day}T12:00:00Z",
                    "event_id": f"{user}-{n}",
                },
            )
            assert response.status_code == 201, response.text


def days(items: list[dict]) -> list[str]:
    return [item["timestamp"][:10] for item in items]


def test_user_interactions_newest_first(api: httpx.Client, history: None) -> None:
    items = api.get(f"{URL}/user/alice").json()
    assert days(items) == sorted(STAMPS, reverse=True)
    assert {item["user_id"] for item in items} == {"alice"}
    assert {item["entity_id"] for item in items} == {"p1"}


def test_user_interactions_are_paged(api: httpx.Client, history: None) -> None:
    newest_first = sorted(STAMPS, reverse=True)
    page = api.get(f"{URL}/user/alice", params={"limit": 2, "offset": 1}).json()
    assert days(page) == newest_first[1:3]
    last = api.get(f"{URL}/user/alice", params={"limit": 10, "offset": 4}).json()
    assert days(last) == newest_first[4:]
    assert api.get(f"{URL}/user/alice", params={"offset": 5}).json() == []


def test_equal_timestamps_list_the_latest_recorded_first(api: httpx.Client) -> None:
    make_entity(api, "p1")
    ids = []
    for kind in ("view", "click", "purchase"):
        body = {
            "user_id": "u",
            "entity_id": "p1",
            "interaction_type": kind,
            "timestamp": "2024-01-01T00:00:00Z",
        }
        ids.append(api.post(URL, json=body).json()["id"])
    listed = api.get(f"{URL}/user/u").json()
    assert [item["id"] for item in listed] == ids[::-1]


def test_unknown_user_has_no_interactions(api: httpx.Client, history: None) -> None:
    response = api.get(f"{URL}/user/nobody")
    assert response.status_code == 200
    assert response.json() == []


def test_entity_interactions_newest_first_and_paged(api: httpx.Client, history: None) -> None:
    items = api.get(f"{URL}/entity/p2").json()
    assert days(items) == sorted(STAMPS, reverse=True)
    assert {(item["user_id"], item["entity_id"]) for item in items} == {("bob", "p2")}

    page = api.get(
        f"{URL}/entity/p2", params={"entity_type": "product", "limit": 3, "offset": 2}
    ).json()
    assert days(page) == sorted(STAMPS, reverse=True)[2:5]


def test_entity_interactions_of_unknown_or_ambiguous_entities(
    api: httpx.Client, history: None
) -> None:
    assert_error(api.get(f"{URL}/entity/missing"), 404, "not_found")
    make_entity(api, "p1", "article")
    assert_error(api.get(f"{URL}/entity/p1"), 409, "conflict")
    article = api.get(f"{URL}/entity/p1", params={"entity_type": "article"})
    assert article.status_code == 200
    assert article.json() == []
    assert len(api.get(f"{URL}/entity/p1", params={"entity_type": "product"}).json()) == 5


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "x"}])
def test_out_of_range_paging_is_422(api: httpx.Client, params: dict) -> None:
    assert_error(api.get(f"{URL}/user/alice", params=params), 422, "validation_error")
    make_entity(api, "p1")
    assert_error(api.get(f"{URL}/entity/p1", params=params), 422, "validation_error")
