"""Entities through HTTP against a real PostgreSQL."""

from __future__ import annotations

import math
from datetime import datetime

import httpx

from tests.support import assert_error, count, make_entity


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


PRODUCT = {
    "entity_id": "product-123",
    "entity_type": "product",
    "attributes": {
        "name": "Wireless Headphones",
        "category": "electronics",
        "price": 99.99,
        "tags": ["audio", "wireless", "bluetooth"],
    },
}


def test_create_returns_entity_with_normalised_feature_vector(api: httpx.Client) -> None:
    response = api.post("/api/v1/entities", json=PRODUCT)
    assert response.status_code == 201
    body = response.json()
    assert body["entity_id"] == "product-123"
    assert body["entity_type"] == "product"
    assert body["tenant_id"] == "default"
    assert body["attributes"] == PRODUCT["attributes"]
    vector = body["feature_vector"]
    assert len(vector) == 512
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-5)


def test_get_update_delete_round_trip(api: httpx.Client) -> None:
    api.post("/api/v1/entities", json=PRODUCT).raise_for_status()
    got = api.get("/api/v1/entities/product-123", params={"entity_type": "product"})
    assert got.status_code == 200
    before = got.json()["feature_vector"]

    updated = api.put(
        "/api/v1/entities/product-123",
        params={"entity_type": "product"},
        json={"attributes": {"category": "books", "tags": ["paper"]}},
    )
    assert updated.status_code == 200
    assert updated.json()["attributes"] == {"category": "books", "tags": ["paper"]}
    assert updated.json()["feature_vector"] != before

    assert api.delete("/api/v1/entities/product-123").status_code == 204
    missing = api.get("/api/v1/entities/product-123")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_duplicate_create_conflicts_and_keeps_the_original(api: httpx.Client) -> None:
    api.post("/api/v1/entities", json=PRODUCT).raise_for_status()
    again = api.post("/api/v1/entities", json={**PRODUCT, "attributes": {"name": "Other"}})
    error = assert_error(again, 409, "conflict")
    assert error["details"] == {"entity_id": "product-123", "entity_type": "product"}
    stored = api.get("/api/v1/entities/product-123").json()
    assert stored["attributes"] == PRODUCT["attributes"]


def test_same_id_under_another_type_is_another_entity(api: httpx.Client) -> None:
    make_entity(api, "sku-1", "product", name="a product")
    make_entity(api, "sku-1", "category", name="a category")

    assert_error(api.get("/api/v1/entities/sku-1"), 409, "conflict")
    assert_error(api.put("/api/v1/entities/sku-1", json={"attributes": {}}), 409, "conflict")
    assert_error(api.delete("/api/v1/entities/sku-1"), 409, "conflict")

    category = api.get("/api/v1/entities/sku-1", params={"entity_type": "category"})
    assert category.status_code == 200
    assert category.json()["entity_type"] == "category"
    assert category.json()["attributes"] == {"name": "a category"}

    deleted = api.delete("/api/v1/entities/sku-1", params={"entity_type": "category"})
    assert deleted.status_code == 204
    # the id is unique again, so the type may be omitted
    remaining = api.get("/api/v1/entities/sku-1")
    assert remaining.status_code == 200
    assert remaining.json()["entity_type"] == "product"


def test_update_without_type_when_the_id_is_unique(api: httpx.Client) -> None:
    created = make_entity(api, "user@x.com", "user", plan="free")
    updated = api.put("/api/v1/entities/user@x.com", json={"attributes": {"plan": "pro"}})
    assert updated.status_code == 200
    body = updated.json()
    assert body["entity_type"] == "user"
    assert body["attributes"] == {"plan": "pro"}
    assert body["created_at"] == created["created_at"]
    assert parse_time(body["updated_at"]) >= parse_time(created["updated_at"])
    assert api.get("/api/v1/entities/user@x.com").json()["attributes"] == {"plan": "pro"}


def test_missing_entities_are_404(api: httpx.Client) -> None:
    make_entity(api, "exists", "product")
    for params in ({}, {"entity_type": "product"}):
        assert_error(api.get("/api/v1/entities/nope", params=params), 404, "not_found")
        assert_error(
            api.put("/api/v1/entities/nope", params=params, json={"attributes": {}}),
            404,
            "not_found",
        )
        assert_error(api.delete("/api/v1/entities/nope", params=params), 404, "not_found")
    # an existing id under a type it does not have
    wrong_type = api.get("/api/v1/entities/exists", params={"entity_type": "user"})
    error = assert_error(wrong_type, 404, "not_found")
    assert error["details"] == {"entity_id": "exists", "entity_type": "user"}


def test_delete_removes_the_entity_and_its_interactions(api: httpx.Client, clean_db: str) -> None:
    make_entity(api, "gone", "product")
    make_entity(api, "kept", "product")
    for entity_id in ("gone", "gone", "kept"):
        recorded = api.post(
            "/api/v1/interactions",
            json={"user_id": "u1", "entity_id": entity_id, "interaction_type": "view"},
        )
        assert recorded.status_code == 201

    assert api.delete("/api/v1/entities/gone").status_code == 204

    assert_error(api.get("/api/v1/entities/gone"), 404, "not_found")
    remaining = api.get("/api/v1/interactions/user/u1").json()
    assert [item["entity_id"] for item in remaining] == ["kept"]
    assert count(clean_db, "interactions") == 1
    assert count(clean_db, "entities") == 1
