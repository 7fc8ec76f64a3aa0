"""POST /api/v1/entities/bulk: partial failures, upserts, repeated keys and the size limit."""

from __future__ import annotations

import httpx

from tests.support import assert_error, count, read_ndjson


def bulk(api: httpx.Client, rows: list[object]) -> dict:
    response = api.post("/api/v1/entities/bulk", json={"entities": rows})
    assert response.status_code == 200, response.text
    return response.json()


def test_valid_rows_are_stored_and_invalid_ones_reported_by_index(
    api: httpx.Client, clean_db: str
) -> None:
    result = bulk(
        api,
        [
            {"entity_id": "ok-1", "entity_type": "product", "attributes": {"c": "x"}},
            {"entity_id": "bad id", "entity_type": "product"},
            {"entity_id": "ok-2", "entity_type": "product", "feature_vector": [1.0, 2.0]},
            {"entity_id": "no-type"},
            {"entity_id": "ok-3", "entity_type": "user"},
        ],
    )
    assert result["received"] == 5
    assert result["created"] == 2
    assert result["updated"] == 0
    assert result["skipped"] == 0
    assert result["failed"] == 3
    assert [(e["index"], e["reason"]) for e in result["errors"]] == [
        (1, "invalid"),
        (2, "invalid"),
        (3, "invalid"),
    ]
    by_index = {e["index"]: e["details"] for e in result["errors"]}
    assert by_index[1][0]["field"] == "entity_id"
    assert by_index[2][0]["expected_dimension"] == 512
    assert by_index[3][0]["field"] == "entity_type"

    assert api.get("/api/v1/entities/ok-1").json()["attributes"] == {"c": "x"}
    assert api.get("/api/v1/entities/ok-3").json()["entity_type"] == "user"
    assert count(clean_db, "entities") == 2


def test_resending_a_bulk_updates_instead_of_duplicating(api: httpx.Client) -> None:
    rows = [
        {"entity_id": f"e{i}", "entity_type": "product", "attributes": {"v": 1}} for i in range(3)
    ]
    first = bulk(api, rows)
    assert (first["created"], first["updated"], first["failed"]) == (3, 0, 0)

    changed = [{**row, "attributes": {"v": 2}} for row in rows]
    changed.append({"entity_id": "e3", "entity_type": "product"})
    second = bulk(api, changed)
    assert (second["received"], second["created"], second["updated"]) == (4, 1, 3)

    exported = read_ndjson(api.get("/api/v1/entities/export"))
    assert sorted(record["entity_id"] for record in exported) == ["e0", "e1", "e2", "e3"]
    assert all(
        record["attributes"] == {"v": 2} for record in exported if record["entity_id"] != "e3"
    )
    assert api.get("/api/v1/entities/e0").json()["attributes"] == {"v": 2}


def test_a_repeated_key_in_one_request_is_skipped_and_the_last_row_wins(
    api: httpx.Client,
) -> None:
    result = bulk(
        api,
        [
            {"entity_id": "dup", "entity_type": "product", "attributes": {"n": 1}},
            {"entity_id": "dup", "entity_type": "product", "attributes": {"n": 2}},
            {"entity_id": "dup", "entity_type": "category", "attributes": {"n": 3}},
        ],
    )
    assert (result["created"], result["updated"], result["skipped"]) == (2, 0, 1)
    got = api.get("/api/v1/entities/dup", params={"entity_type": "product"})
    assert got.json()["attributes"] == {"n": 2}


def test_bulk_over_the_item_limit_is_413_and_stores_nothing(
    api: httpx.Client, clean_db: str
) -> None:
    rows = [{"entity_id": f"e{i}", "entity_type": "t"} for i in range(1001)]
    error = assert_error(
        api.post("/api/v1/entities/bulk", json={"entities": rows}), 413, "payload_too_large"
    )
    assert error["details"] == {"max_items": 1000, "received": 1001}
    assert count(clean_db, "entities") == 0

    at_limit = bulk(api, rows[:1000])
    assert at_limit["created"] == 1000
    assert count(clean_db, "entities") == 1000


def test_bulk_body_must_hold_a_list(api: httpx.Client) -> None:
    assert_error(api.post("/api/v1/entities/bulk", json={}), 422, "validation_error")
    response = api.post("/api/v1/entities/bulk", json={"entities": {"entity_id": "a"}})
    assert_error(response, 422, "validation_error")
    empty = bulk(api, [])
    assert (empty["received"], empty["created"], empty["failed"]) == (0, 0, 0)


def test_non_finite_vectors_in_a_bulk_are_row_errors(api: httpx.Client, clean_db: str) -> None:
    vector = ", ".join(["0.5"] * 511)
    content = (
        '{"entities": ['
        f'{{"entity_id": "nan", "entity_type": "t", "feature_vector": [NaN, {vector}]}},'
        f'{{"entity_id": "fine", "entity_type": "t", "feature_vector": [1.0, {vector}]}}'
        "]}"
    )
    response = api.post(
        "/api/v1/entities/bulk", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["created"], result["failed"]) == (1, 1)
    assert result["errors"][0]["index"] == 0
    assert "finite" in str(result["errors"][0]["details"])
    assert count(clean_db, "entities") == 1
