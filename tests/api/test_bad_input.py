"""Input PostgreSQL cannot store, or the service cannot use, is a 422 in the common
error shape on every route, and changes nothing; in bulk requests, a per-row error."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support import assert_error, fetch, make_entity

NUL, SURROGATE = "\u0000", "\ud800"


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


def send(api: httpx.Client, method: str, path: str, body: object) -> httpx.Response:
    # json.dumps escapes what httpx's own encoder refuses to send (a lone surrogate).
    return api.request(
        method, path, content=json.dumps(body), headers={"Content-Type": "application/json"}
    )


def entity(**attributes: object) -> dict:
    return {"entity_id": "e1", "entity_type": "t", "attributes": attributes}


def interaction(**fields: object) -> dict:
    return {"user_id": "u1", "entity_id": "p1", "interaction_type": "view", **fields}


BAD_WRITES = [
    ("POST", "/api/v1/entities", entity(name=NUL)),
    ("POST", "/api/v1/entities", entity(**{NUL: "x"})),
    ("POST", "/api/v1/entities", entity(name=SURROGATE)),
    ("POST", "/api/v1/entities", entity(**{SURROGATE: 1})),
    ("POST", "/api/v1/entities", entity(deep=nested(40))),
    ("POST", "/api/v1/entities", entity(deep=nested(300))),
    ("POST", "/api/v1/entities", entity(deep=nested(900))),
    ("POST", "/api/v1/entities", entity(big=2**64)),
    ("POST", "/api/v1/entities", {**entity(), "feature_vector": [1e308] * 512}),
    ("POST", "/api/v1/entities", {**entity(), "feature_vector": [2e6] + [0.0] * 511}),
    ("POST", "/api/v1/entities", {"entity_id": ".", "entity_type": "t"}),
    ("POST", "/api/v1/entities", {"entity_id": "..", "entity_type": "t"}),
    ("PUT", "/api/v1/entities/p1", {"attributes": {"a": [NUL]}}),
    ("POST", "/api/v1/interactions", interaction(metadata={"k": NUL})),
    ("POST", "/api/v1/interactions", interaction(metadata={"k": nested(300)})),
    ("POST", "/api/v1/interactions", interaction(timestamp="0001-01-01T00:30:00+01:00")),
    ("POST", "/api/v1/interactions", interaction(user_id="..")),
    ("POST", "/api/v1/interactions", interaction(event_id=".")),
    (
        "POST",
        "/api/v1/interaction-types",
        {"interaction_type": "s", "default_weight": 1, "description": NUL},
    ),
    ("PUT", "/api/v1/interaction-types/view", {"weight": 1, "description": SURROGATE}),
    ("PUT", "/api/v1/admin/tenants/t1", {"name": NUL}),
    ("POST", "/api/v1/admin/api-keys", {"name": SURROGATE}),
    ("POST", "/api/v1/webhooks", {"url": f"https://example.com/{NUL}", "events": ["*"]}),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_WRITES)
def test_unstorable_input_is_refused_and_changes_nothing(
    api: httpx.Client, clean_db: str, method: str, path: str, body: object
) -> None:
    make_entity(api, "p1", "product", name="before")
    tables = ("interactions", "interaction_types", "tenants", "api_keys", "webhooks")

    def snapshot() -> dict[str, list]:
        rows = {t: fetch(clean_db, f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}
        # (not `indexed`: the vector index takes new entities in the background)
        rows["entities"] = fetch(
            clean_db, "SELECT entity_type, entity_id, attributes, updated_at FROM entities"
        )
        return rows

    before = snapshot()
    assert_error(send(api, method, path, body), 422, "validation_error")
    assert snapshot() == before


@pytest.mark.parametrize(
    "value", ["NaN", "Infinity", "-Infinity", "1e309"], ids=["nan", "inf", "-inf", "1e309"]
)
def test_non_finite_numbers_are_refused_not_stored_as_null(
    api: httpx.Client, clean_db: str, value: str
) -> None:
    raw = '{"entity_id": "e1", "entity_type": "t", "attributes": {"x": ' + value + "}}"
    response = api.post(
        "/api/v1/entities", content=raw, headers={"Content-Type": "application/json"}
    )
    error = assert_error(response, 422, "validation_error")
    assert "finite" in json.dumps(error)
    assert fetch(clean_db, "SELECT count(*) AS n FROM entities")[0]["n"] == 0


@pytest.mark.parametrize(
    "query",
    ["filter.genre=%00", "filter.%00=x", "filter.a=b&filter.c%00d=e"],
)
def test_filters_that_cannot_match_stored_text_are_refused(api: httpx.Client, query: str) -> None:
    make_entity(api, "p1", "product")
    for path in ("/api/v1/recommendations/user/u1", "/api/v1/recommendations/entity/p1"):
        assert_error(api.get(f"{path}?{query}"), 422, "validation_error")


def test_a_delivery_id_beyond_64_bits_is_refused(api: httpx.Client) -> None:
    path = f"/api/v1/webhooks/{'0' * 8}-0000-0000-0000-{'0' * 12}/deliveries/{2**63}/retry"
    assert_error(api.post(path), 422, "validation_error")


def test_bulk_requests_report_unstorable_rows_and_store_the_rest(
    api: httpx.Client, clean_db: str
) -> None:
    entities = [
        entity(),
        {**entity(bad=NUL), "entity_id": "e2"},
        {**entity(), "entity_id": "e3"},
        {**entity(deep=nested(300)), "entity_id": "e4"},
    ]
    response = send(api, "POST", "/api/v1/entities/bulk", {"entities": entities})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["created"] == 2
    assert [(e["index"], e["reason"]) for e in result["errors"]] == [(1, "invalid"), (3, "invalid")]
    stored = fetch(clean_db, "SELECT entity_id FROM entities ORDER BY entity_id")
    assert [r["entity_id"] for r in stored] == ["e1", "e3"]

    rows = [
        {**interaction(entity_id="e1"), "metadata": {"k": SURROGATE}},
        interaction(entity_id="e1"),
        {**interaction(entity_id="e3"), "metadata": {"k": NUL}},
        interaction(entity_id="e3", user_id="."),
        interaction(entity_id="e3"),
    ]
    response = send(api, "POST", "/api/v1/interactions/bulk", {"interactions": rows})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["created"] == 2
    assert [e["index"] for e in result["errors"]] == [0, 2, 3]
    assert fetch(clean_db, "SELECT count(*) AS n FROM interactions")[0]["n"] == 2
