"""Entity input validation: ids, types and body shape, all as 422 with the error shape."""

from __future__ import annotations

import httpx
import pytest

from tests.support import assert_error, count


def fields_of(error: dict) -> set[str]:
    return {detail["field"] for detail in error["details"]}


@pytest.mark.parametrize(
    ("entity_id", "entity_type", "field"),
    [
        ("x" * 300, "product", "body.entity_id"),
        ("has space", "product", "body.entity_id"),
        ("a/b", "product", "body.entity_id"),
        ("", "product", "body.entity_id"),
        ("ok", "bad type", "body.entity_type"),
        ("ok", "t" * 65, "body.entity_type"),
    ],
)
def test_invalid_ids_and_types_are_422(
    api: httpx.Client, clean_db: str, entity_id: str, entity_type: str, field: str
) -> None:
    response = api.post(
        "/api/v1/entities", json={"entity_id": entity_id, "entity_type": entity_type}
    )
    error = assert_error(response, 422, "validation_error")
    assert field in fields_of(error)
    assert count(clean_db, "entities") == 0


def test_longest_valid_id_and_punctuation_are_accepted(api: httpx.Client) -> None:
    for entity_id in ("x" * 255, "user@x.com", "sku:12", "a+b=c~d_e.f-g"):
        created = api.post("/api/v1/entities", json={"entity_id": entity_id, "entity_type": "t"})
        assert created.status_code == 201, created.text
        got = api.get(f"/api/v1/entities/{entity_id}")
        assert got.status_code == 200
        assert got.json()["entity_id"] == entity_id


@pytest.mark.parametrize(
    "body",
    [
        {"entity_type": "product"},
        {"entity_id": "a"},
        {"entity_id": "a", "entity_type": "product", "attributes": [1, 2]},
        {"entity_id": "a", "entity_type": "product", "unexpected": True},
        {"entity_id": 12, "entity_type": "product"},
        [],
    ],
)
def test_malformed_bodies_are_422(api: httpx.Client, clean_db: str, body: object) -> None:
    assert_error(api.post("/api/v1/entities", json=body), 422, "validation_error")
    assert count(clean_db, "entities") == 0


def test_invalid_path_and_query_values_are_422(api: httpx.Client) -> None:
    assert_error(api.get("/api/v1/entities/has%20space"), 422, "validation_error")
    assert_error(api.get("/api/v1/entities/" + "x" * 300), 422, "validation_error")
    response = api.get("/api/v1/entities/ok", params={"entity_type": "no spaces"})
    assert_error(response, 422, "validation_error")


def test_update_requires_attributes(api: httpx.Client) -> None:
    api.post("/api/v1/entities", json={"entity_id": "a", "entity_type": "t"}).raise_for_status()
    assert_error(api.put("/api/v1/entities/a", json={}), 422, "validation_error")
    response = api.put("/api/v1/entities/a", json={"attributes": {}, "entity_id": "b"})
    assert_error(response, 422, "validation_error")


def test_export_cannot_be_registered_as_an_entity_id(api: httpx.Client) -> None:
    response = api.post("/api/v1/entities", json={"entity_id": "export", "entity_type": "product"})
    assert_error(response, 422, "validation_error")
    assert api.get("/api/v1/entities/export").text == ""
