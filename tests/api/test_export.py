"""GET /api/v1/{entities,interactions}/export: every row as NDJSON, one object per line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.support import read_ndjson

ENTITY_COUNT = 1200  # more than the export cursor fetches at a time
INTERACTION_COUNT = 1100
START = datetime(2024, 1, 1, tzinfo=UTC)


def add_entities(api: httpx.Client, total: int) -> None:
    rows = [
        {"entity_id": f"e{i:05d}", "entity_type": "product", "attributes": {"n": i}}
        for i in range(total)
    ]
    for start in range(0, total, 1000):
        result = api.post("/api/v1/entities/bulk", json={"entities": rows[start : start + 1000]})
        assert result.json()["failed"] == 0


def add_interactions(api: httpx.Client, total: int) -> None:
    rows = [
        {
            "user_id": f"u{i % 13}",
            "entity_id": f"e{i % 50:05d}",
            "entity_type": "product",
            "interaction_type": "purchase" if i % 10 == 0 else "view",
            "weight": 0.5 if i % 7 == 0 else None,
            "timestamp": (START + timedelta(minutes=i)).isoformat(),
            "event_id": f"evt-{i}",
        }
        for i in range(total)
    ]
    for start in range(0, total, 1000):
        chunk = rows[start : start + 1000]
        result = api.post("/api/v1/interactions/bulk", json={"interactions": chunk})
        assert result.json()["created"] == len(chunk)


def test_entities_export_streams_every_entity(api: httpx.Client) -> None:
    add_entities(api, ENTITY_COUNT)
    response = api.get("/api/v1/entities/export")
    records = read_ndjson(response)
    assert response.text.endswith("\n")
    assert len(response.text.splitlines()) == ENTITY_COUNT
    assert len(records) == ENTITY_COUNT
    assert {r["entity_id"] for r in records} == {f"e{i:05d}" for i in range(ENTITY_COUNT)}
    first = next(r for r in records if r["entity_id"] == "e00007")
    assert first["attributes"] == {"n": 7}
    assert first["entity_type"] == "product"
    assert first["tenant_id"] == "default"
    assert len(first["feature_vector"]) == 512
    assert {"created_at", "updated_at"} <= set(first)


def test_interactions_export_streams_every_interaction(api: httpx.Client) -> None:
    add_entities(api, 50)
    add_interactions(api, INTERACTION_COUNT)
    records = read_ndjson(api.get("/api/v1/interactions/export"))
    assert len(records) == INTERACTION_COUNT
    assert [r["event_id"] for r in records] == [f"evt-{i}" for i in range(INTERACTION_COUNT)]
    by_event = {r["event_id"]: r for r in records}
    assert by_event["evt-7"]["weight"] == 0.5
    # a weight that follows the interaction type is exported as such, not frozen
    assert by_event["evt-1"]["weight"] is None
    assert by_event["evt-10"]["interaction_type"] == "purchase"
    stamp = datetime.fromisoformat(by_event["evt-3"]["timestamp"])
    assert stamp == START + timedelta(minutes=3)
    assert by_event["evt-3"]["user_id"] == "u3"
    assert by_event["evt-3"]["entity_id"] == "e00003"


def test_empty_exports(api: httpx.Client) -> None:
    for path in ("/api/v1/entities/export", "/api/v1/interactions/export"):
        response = api.get(path)
        assert read_ndjson(response) == []
        assert response.text == ""
