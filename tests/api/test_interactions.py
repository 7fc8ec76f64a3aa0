"""POST /api/v1/interactions: weights, entity resolution, validation and timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.support import assert_error, count, make_entity

URL = "/api/v1/interactions"


def record(api: httpx.Client, **fields: object) -> httpx.Response:
    body = {"user_id": "u1", "entity_id": "p1", "interaction_type": "view", **fields}
    return api.post(URL, json=body)


@pytest.fixture
def product(api: httpx.Client) -> dict:
    return make_entity(api, "p1", "product", name="thing")


def test_record_returns_the_stored_interaction(api: httpx.Client, product: dict) -> None:
    response = record(api, metadata={"source": "home", "position": 3})
    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body["id"], int)
    assert body["user_id"] == "u1"
    assert body["entity_id"] == "p1"
    assert body["entity_type"] == "product"
    assert body["interaction_type"] == "view"
    assert body["tenant_id"] == "default"
    assert body["value"] is None
    assert body["event_id"] is None
    assert body["metadata"] == {"source": "home", "position": 3}
    stamp = datetime.fromisoformat(body["timestamp"])
    assert stamp.tzinfo is not None
    listed = api.get(f"{URL}/user/u1").json()
    assert listed == [body]


@pytest.mark.parametrize(
    ("interaction_type", "weight"),
    [("view", 1.0), ("click", 2.0), ("like", 3.0), ("add_to_cart", 3.0), ("purchase", 5.0)],
)
def test_weight_defaults_to_the_type_weight(
    api: httpx.Client, product: dict, interaction_type: str, weight: float
) -> None:
    response = record(api, interaction_type=interaction_type)
    assert response.status_code == 201
    assert response.json()["weight"] == weight


def test_explicit_weight_is_kept(api: httpx.Client, product: dict) -> None:
    response = record(api, interaction_type="purchase", weight=2.5)
    assert response.status_code == 201
    assert response.json()["weight"] == 2.5
    assert api.get(f"{URL}/user/u1").json()[0]["weight"] == 2.5


def test_rating_weight_is_type_weight_times_value(api: httpx.Client, product: dict) -> None:
    response = record(api, interaction_type="rating", value=4.5)
    assert response.status_code == 201
    assert response.json()["value"] == 4.5
    assert response.json()["weight"] == 4.5
    scaled_purchase = record(api, interaction_type="purchase", value=2)
    assert scaled_purchase.json()["weight"] == 10.0


def test_decimal_weights_and_values_round_trip_exactly(api: httpx.Client, product: dict) -> None:
    response = record(api, interaction_type="rating", weight=0.1, value=0.3)
    assert response.status_code == 201
    assert (response.json()["weight"], response.json()["value"]) == (0.1, 0.3)
    stored = api.get(f"{URL}/user/u1").json()[0]
    assert (stored["weight"], stored["value"]) == (0.1, 0.3)


def test_unknown_entity_is_404_and_nothing_is_stored(api: httpx.Client, clean_db: str) -> None:
    make_entity(api, "p1", "product")
    error = assert_error(record(api, entity_id="missing"), 404, "not_found")
    assert error["details"]["entity_id"] == "missing"
    # known id, but not under this type
    error = assert_error(record(api, entity_type="article"), 404, "not_found")
    assert error["details"] == {"entity_id": "p1", "entity_type": "article"}
    assert count(clean_db, "interactions") == 0
    assert api.get(f"{URL}/user/u1").json() == []


def test_unknown_interaction_type_is_422(api: httpx.Client, product: dict, clean_db: str) -> None:
    error = assert_error(record(api, interaction_type="teleport"), 422, "validation_error")
    assert "teleport" in error["message"]
    assert "view" in error["details"]["known"]
    assert count(clean_db, "interactions") == 0


def test_entity_type_is_resolved_when_the_id_is_unique(api: httpx.Client, product: dict) -> None:
    resolved = record(api)
    assert resolved.json()["entity_type"] == "product"

    make_entity(api, "p1", "article")
    assert_error(record(api), 409, "conflict")
    explicit = record(api, entity_type="article")
    assert explicit.status_code == 201
    assert explicit.json()["entity_type"] == "article"


def test_timestamp_is_accepted_and_returned(api: httpx.Client, product: dict) -> None:
    response = record(api, timestamp="2024-03-01T10:20:30.123456+02:00")
    assert response.status_code == 201, response.text
    expected = datetime(2024, 3, 1, 8, 20, 30, 123456, tzinfo=UTC)
    assert datetime.fromisoformat(response.json()["timestamp"]) == expected
    listed = api.get(f"{URL}/user/u1").json()
    assert datetime.fromisoformat(listed[0]["timestamp"]) == expected

    naive = record(api, timestamp="2024-03-02T00:00:00")
    assert datetime.fromisoformat(naive.json()["timestamp"]) == datetime(2024, 3, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    "fields",
    [
        {"user_id": "has space"},
        {"user_id": "x" * 256},
        {"entity_id": "a/b"},
        {"timestamp": "yesterday"},
        {"weight": "heavy"},
        {"event_id": "not valid"},
        {"unexpected": 1},
    ],
)
def test_invalid_input_is_422(
    api: httpx.Client, product: dict, clean_db: str, fields: dict
) -> None:
    assert_error(record(api, **fields), 422, "validation_error")
    assert count(clean_db, "interactions") == 0


def test_non_finite_weights_are_rejected(api: httpx.Client, product: dict, clean_db: str) -> None:
    for field, literal in (("weight", "NaN"), ("value", "Infinity"), ("weight", "1e999")):
        content = (
            f'{{"user_id": "u1", "entity_id": "p1", "interaction_type": "view", '
            f'"{field}": {literal}}}'
        )
        response = api.post(URL, content=content, headers={"content-type": "application/json"})
        assert_error(response, 422, "validation_error")
    assert count(clean_db, "interactions") == 0
