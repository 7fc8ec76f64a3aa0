"""Client-supplied feature vectors: stored as float32, checked for dimension and finiteness."""

from __future__ import annotations

import httpx
import numpy as np

from tests.support import assert_error, count

DIM = 512
VECTOR = [((i * 37) % 101 - 50) / 7.3 for i in range(DIM)]  # not normalised on purpose


def entity(**fields: object) -> dict[str, object]:
    return {"entity_id": "v1", "entity_type": "product", "attributes": {"a": 1}, **fields}


def assert_same_vector(returned: list[float], sent: list[float]) -> None:
    assert len(returned) == len(sent)
    np.testing.assert_allclose(
        np.asarray(returned, dtype=np.float64),
        np.asarray(sent, dtype=np.float32).astype(np.float64),
        rtol=1e-6,
    )


def test_supplied_vector_is_stored_and_returned(api: httpx.Client) -> None:
    created = api.post("/api/v1/entities", json=entity(feature_vector=VECTOR))
    assert created.status_code == 201, created.text
    assert_same_vector(created.json()["feature_vector"], VECTOR)
    assert_same_vector(api.get("/api/v1/entities/v1").json()["feature_vector"], VECTOR)


def test_update_with_a_supplied_vector_replaces_it(api: httpx.Client) -> None:
    api.post("/api/v1/entities", json=entity()).raise_for_status()
    reversed_vector = VECTOR[::-1]
    updated = api.put(
        "/api/v1/entities/v1", json={"attributes": {"b": 2}, "feature_vector": reversed_vector}
    )
    assert updated.status_code == 200, updated.text
    assert_same_vector(updated.json()["feature_vector"], reversed_vector)
    assert_same_vector(api.get("/api/v1/entities/v1").json()["feature_vector"], reversed_vector)


def test_wrong_dimension_is_rejected_and_nothing_stored(api: httpx.Client, clean_db: str) -> None:
    for size in (DIM - 1, DIM + 1, 3):
        response = api.post("/api/v1/entities", json=entity(feature_vector=[0.1] * size))
        error = assert_error(response, 422, "validation_error")
        assert error["details"]["expected_dimension"] == DIM
        assert str(size) in error["message"]
    assert count(clean_db, "entities") == 0


def test_wrong_dimension_on_update_leaves_the_entity_unchanged(api: httpx.Client) -> None:
    api.post("/api/v1/entities", json=entity(feature_vector=VECTOR)).raise_for_status()
    response = api.put("/api/v1/entities/v1", json={"attributes": {}, "feature_vector": [1.0]})
    assert_error(response, 422, "validation_error")
    stored = api.get("/api/v1/entities/v1").json()
    assert stored["attributes"] == {"a": 1}
    assert_same_vector(stored["feature_vector"], VECTOR)


def test_non_finite_values_are_rejected(api: httpx.Client, clean_db: str) -> None:
    head = '{"entity_id": "v1", "entity_type": "product", "feature_vector": ['
    tail = ", 0.0" * (DIM - 1) + "]}"
    for bad in ("NaN", "Infinity", "-Infinity", "1e999"):
        response = api.post(
            "/api/v1/entities",
            content=head + bad + tail,
            headers={"content-type": "application/json"},
        )
        error = assert_error(response, 422, "validation_error")
        assert "finite" in str(error["details"])
    assert count(clean_db, "entities") == 0
