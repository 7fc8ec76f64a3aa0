"""POST /api/v1/interactions/bulk: partial failures by index, retries and the size limit."""

from __future__ import annotations

import httpx

from tests.support import assert_error, count, fetch, make_entity

URL = "/api/v1/interactions/bulk"


def bulk(api: httpx.Client, rows: list[dict]) -> dict:
    response = api.post(URL, json={"interactions": rows})
    assert response.status_code == 200, response.text
    return response.json()


def row(**fields: object) -> dict:
    return {"user_id": "u1", "entity_id": "p1", "interaction_type": "view", **fields}


def test_valid_rows_are_stored_and_failures_reported_by_index(
    api: httpx.Client, clean_db: str
) -> None:
    make_entity(api, "p1", "product")
    make_entity(api, "p2", "product")
    make_entity(api, "twin", "product")
    make_entity(api, "twin", "article")
    result = bulk(
        api,
        [
            row(entity_type="product", interaction_type="purchase"),
            row(user_id="bad user"),
            row(entity_id="missing", entity_type="product"),
            row(interaction_type="teleport"),
            row(entity_id="p2"),
            row(entity_id="ghost"),
            row(entity_id="twin"),
            row(entity_id="p1", entity_type="article"),
        ],
    )
    assert result["received"] == 8
    assert result["created"] == 2
    assert result["updated"] == 0
    assert result["skipped"] == 0
    assert result["failed"] == 6
    assert [(e["index"], e["reason"]) for e in result["errors"]] == [
        (1, "invalid"),
        (2, "unknown_entity"),
        (3, "unknown_interaction_type"),
        (5, "unknown_entity"),
        (6, "ambiguous_entity_type"),
        (7, "unknown_entity"),
    ]
    errors = {e["index"]: e["details"] for e in result["errors"]}
    assert errors[2] == {"entity_id": "missing", "entity_type": "product"}
    assert errors[3] == {"interaction_type": "teleport"}

    rows = fetch(
        clean_db, "SELECT entity_id, interaction_type FROM interactions ORDER BY entity_id"
    )
    assert rows == [
        {"entity_id": "p1", "interaction_type": "purchase"},
        {"entity_id": "p2", "interaction_type": "view"},
    ]
    # bulk rows follow the type weights like single ones
    weights = {i["entity_id"]: i["weight"] for i in api.get("/api/v1/interactions/user/u1").json()}
    assert weights == {"p1": 5.0, "p2": 1.0}


def test_bulk_keeps_explicit_fields(api: httpx.Client) -> None:
    make_entity(api, "p1")
    result = bulk(
        api,
        [
            row(
                interaction_type="rating",
                value=3,
                metadata={"k": "v"},
                timestamp="2024-05-06T07:08:09Z",
                event_id="r-1",
            ),
            row(weight=0.25, timestamp="2024-05-06T07:08:10Z"),
        ],
    )
    assert result["created"] == 2
    newest, oldest = api.get("/api/v1/interactions/user/u1").json()
    assert newest["weight"] == 0.25
    assert (oldest["weight"], oldest["value"], oldest["event_id"]) == (3.0, 3.0, "r-1")
    assert oldest["metadata"] == {"k": "v"}
    assert oldest["timestamp"] == "2024-05-06T07:08:09Z"


def test_retrying_a_bulk_with_event_ids_does_not_duplicate(
    api: httpx.Client, clean_db: str
) -> None:
    make_entity(api, "p1")
    rows = [row(event_id=f"evt-{i}") for i in range(5)]
    first = bulk(api, rows)
    assert (first["created"], first["skipped"], first["failed"]) == (5, 0, 0)

    retry = bulk(api, [*rows, row(event_id="evt-new")])
    assert retry["received"] == 6
    assert (retry["created"], retry["skipped"], retry["failed"]) == (1, 5, 0)
    assert count(clean_db, "interactions") == 6

    # a single POST of an already bulk-recorded event is a replay as well
    assert api.post("/api/v1/interactions", json=rows[0]).status_code == 200
    assert count(clean_db, "interactions") == 6


def test_a_repeated_event_id_within_one_bulk_is_stored_once(
    api: httpx.Client, clean_db: str
) -> None:
    make_entity(api, "p1")
    result = bulk(api, [row(event_id="same"), row(event_id="same", interaction_type="click")])
    assert (result["created"], result["skipped"], result["failed"]) == (1, 1, 0)
    assert count(clean_db, "interactions") == 1


def test_rows_with_and_without_event_ids_in_one_bulk_keep_their_order_and_retry_safely(
    api: httpx.Client, clean_db: str
) -> None:
    make_entity(api, "p1")
    rows = [
        row(user_id="a"),
        row(user_id="b", event_id="evt-b"),
        row(user_id="c", entity_id="missing"),
        row(user_id="d"),
        row(user_id="e", event_id="evt-e"),
    ]
    first = bulk(api, rows)
    assert (first["created"], first["skipped"], first["failed"]) == (4, 0, 1)
    assert [e["index"] for e in first["errors"]] == [2]
    stored = fetch(clean_db, "SELECT user_id FROM interactions ORDER BY id")
    assert [r["user_id"] for r in stored] == ["a", "b", "d", "e"]  # in request order

    # A retry stores the rows without an event id again, never those with one.
    retry = bulk(api, rows)
    assert (retry["created"], retry["skipped"], retry["failed"]) == (2, 2, 1)
    assert count(clean_db, "interactions") == 6


def test_bulk_without_event_ids_stores_every_row(api: httpx.Client, clean_db: str) -> None:
    make_entity(api, "p1")
    result = bulk(api, [row(user_id=f"u{i}") for i in range(50)])
    assert (result["created"], result["skipped"], result["failed"]) == (50, 0, 0)
    stored = fetch(clean_db, "SELECT user_id FROM interactions ORDER BY id")
    assert [r["user_id"] for r in stored] == [f"u{i}" for i in range(50)]


def test_bulk_over_the_item_limit_is_413(api: httpx.Client, clean_db: str) -> None:
    make_entity(api, "p1")
    response = api.post(URL, json={"interactions": [row()] * 1001})
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"] == {"max_items": 1000, "received": 1001}
    assert count(clean_db, "interactions") == 0
