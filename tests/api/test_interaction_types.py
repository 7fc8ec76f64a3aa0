"""/api/v1/interaction-types: built-ins, custom types, weights and deletion rules."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import assert_error, make_entity, make_settings, serve

URL = "/api/v1/interaction-types"
BUILT_INS = {
    "view": 1.0,
    "click": 2.0,
    "like": 3.0,
    "add_to_cart": 3.0,
    "purchase": 5.0,
    "rating": 1.0,
}


@pytest.fixture
def base_url(clean_db: str) -> Iterator[str]:
    """A fresh app per test: each process caches a tenant's types for a few seconds, and
    the tables are emptied behind the app's back between tests."""
    with serve(make_settings(clean_db)) as url:
        yield url


def types(api: httpx.Client) -> dict[str, dict]:
    response = api.get(URL)
    assert response.status_code == 200
    return {item["interaction_type"]: item for item in response.json()}


def test_built_in_types_and_their_weights(api: httpx.Client) -> None:
    listed = types(api)
    assert {name: item["default_weight"] for name, item in listed.items()} == BUILT_INS
    assert all(item["built_in"] for item in listed.values())


def test_create_and_get_a_custom_type(api: httpx.Client) -> None:
    created = api.post(
        URL, json={"interaction_type": "share", "default_weight": 4.0, "description": "shared"}
    )
    assert created.status_code == 201, created.text
    expected = {
        "interaction_type": "share",
        "default_weight": 4.0,
        "built_in": False,
        "description": "shared",
    }
    assert created.json() == expected
    assert api.get(f"{URL}/share").json() == expected
    assert types(api)["share"] == expected
    assert len(types(api)) == len(BUILT_INS) + 1


def test_duplicate_and_built_in_names_conflict(api: httpx.Client) -> None:
    body = {"interaction_type": "share", "default_weight": 4.0}
    assert api.post(URL, json=body).status_code == 201
    assert_error(api.post(URL, json={**body, "default_weight": 9.0}), 409, "conflict")
    assert api.get(f"{URL}/share").json()["default_weight"] == 4.0
    for name in BUILT_INS:
        response = api.post(URL, json={"interaction_type": name, "default_weight": 9.0})
        assert_error(response, 409, "conflict")
    assert types(api)["view"]["default_weight"] == 1.0


@pytest.mark.parametrize(
    "body",
    [
        {"interaction_type": "bad name", "default_weight": 1},
        {"interaction_type": "x" * 65, "default_weight": 1},
        {"interaction_type": "ok"},
        {"interaction_type": "ok", "default_weight": "heavy"},
        {"interaction_type": "ok", "default_weight": 1, "description": "d" * 501},
    ],
)
def test_invalid_types_are_422(api: httpx.Client, body: dict) -> None:
    assert_error(api.post(URL, json=body), 422, "validation_error")
    assert set(types(api)) == set(BUILT_INS)


def test_unknown_types_are_404(api: httpx.Client) -> None:
    assert_error(api.get(f"{URL}/nope"), 404, "not_found")
    assert_error(api.put(f"{URL}/nope", json={"weight": 2}), 404, "not_found")
    assert_error(api.delete(f"{URL}/nope"), 404, "not_found")
    assert "nope" not in types(api)


def test_change_a_built_in_weight(api: httpx.Client) -> None:
    response = api.put(f"{URL}/view", json={"weight": 1.5})
    assert response.status_code == 200
    assert response.json()["default_weight"] == 1.5
    assert response.json()["built_in"] is True
    assert api.get(f"{URL}/view").json()["default_weight"] == 1.5
    assert types(api)["view"] == response.json()
    assert types(api)["click"]["default_weight"] == 2.0


def test_change_a_custom_weight_and_description(api: httpx.Client) -> None:
    api.post(URL, json={"interaction_type": "share", "default_weight": 4.0, "description": "d"})
    response = api.put(f"{URL}/share", json={"weight": 0.5})
    assert response.status_code == 200
    assert response.json() == {
        "interaction_type": "share",
        "default_weight": 0.5,
        "built_in": False,
        "description": "d",
    }
    described = api.put(f"{URL}/share", json={"weight": 0.75, "description": "new"})
    assert described.json()["description"] == "new"
    assert api.get(f"{URL}/share").json()["default_weight"] == 0.75
    assert api.get(f"{URL}/share").json()["description"] == "new"


def test_weight_changes_apply_to_recorded_interactions(api: httpx.Client) -> None:
    make_entity(api, "p1")
    api.post(URL, json={"interaction_type": "share", "default_weight": 4.0})
    for body in (
        {"interaction_type": "view", "timestamp": "2024-01-01T00:00:00Z"},
        {"interaction_type": "view", "weight": 7.0, "timestamp": "2024-01-02T00:00:00Z"},
        {"interaction_type": "rating", "value": 3, "timestamp": "2024-01-03T00:00:00Z"},
        {"interaction_type": "share", "timestamp": "2024-01-04T00:00:00Z"},
    ):
        recorded = api.post(
            "/api/v1/interactions", json={"user_id": "u1", "entity_id": "p1", **body}
        )
        assert recorded.status_code == 201, recorded.text

    def weights() -> list[float]:
        listed = api.get("/api/v1/interactions/user/u1").json()
        return [item["weight"] for item in reversed(listed)]

    assert weights() == [1.0, 7.0, 3.0, 4.0]
    for name, weight in (("view", 2.0), ("rating", 2.0), ("share", 0.5)):
        assert api.put(f"{URL}/{name}", json={"weight": weight}).status_code == 200
    # explicit weights stay; the others follow their type
    assert weights() == [2.0, 7.0, 6.0, 0.5]
    entity_view = api.get("/api/v1/interactions/entity/p1").json()
    assert [item["weight"] for item in reversed(entity_view)] == [2.0, 7.0, 6.0, 0.5]


def test_delete_an_unused_custom_type(api: httpx.Client) -> None:
    api.post(URL, json={"interaction_type": "share", "default_weight": 4.0})
    assert api.delete(f"{URL}/share").status_code == 204
    assert_error(api.get(f"{URL}/share"), 404, "not_found")
    assert "share" not in types(api)
    make_entity(api, "p1")
    recorded = api.post(
        "/api/v1/interactions",
        json={"user_id": "u1", "entity_id": "p1", "interaction_type": "share"},
    )
    assert_error(recorded, 422, "validation_error")
    # the name is free again
    again = api.post(URL, json={"interaction_type": "share", "default_weight": 1.0})
    assert again.status_code == 201


def test_a_used_custom_type_cannot_be_deleted(api: httpx.Client) -> None:
    api.post(URL, json={"interaction_type": "share", "default_weight": 4.0})
    make_entity(api, "p1")
    recorded = api.post(
        "/api/v1/interactions",
        json={"user_id": "u1", "entity_id": "p1", "interaction_type": "share"},
    )
    assert recorded.status_code == 201
    assert_error(api.delete(f"{URL}/share"), 409, "conflict")
    assert types(api)["share"]["default_weight"] == 4.0

    # once its interactions are gone (with their entity), it can go
    assert api.delete("/api/v1/entities/p1").status_code == 204
    assert api.delete(f"{URL}/share").status_code == 204


def test_built_in_types_cannot_be_deleted(api: httpx.Client) -> None:
    api.put(f"{URL}/click", json={"weight": 9.0})
    for name in BUILT_INS:
        assert_error(api.delete(f"{URL}/{name}"), 409, "conflict")
    assert set(types(api)) == set(BUILT_INS)
    assert types(api)["click"]["default_weight"] == 9.0
