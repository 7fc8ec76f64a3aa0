"""The deferred HNSW index: written vectors reach the index in the background."""

from __future__ import annotations

import time

import httpx

from recommendation_engine.storage.vectors import index_order
from tests.support import assert_error, fetch, make_entity


def wait_until_indexed(database_url: str, entity_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = fetch(database_url, "SELECT indexed FROM entities WHERE entity_id = $1", entity_id)
        if rows and rows[0]["indexed"]:
            return
        time.sleep(0.1)
    raise AssertionError(f"{entity_id} was not indexed in time")


def nearest_through_the_index(database_url: str, vector: list[float]) -> list[str]:
    """Nearest indexed entities, with sequential scans off so the HNSW index answers."""
    literal = "[" + ",".join(repr(x) for x in vector) + "]"
    rows = fetch(
        database_url,
        f"""
        WITH _ AS (SELECT set_config('enable_seqscan', 'off', true))
        SELECT entity_id FROM entities, _
        WHERE indexed ORDER BY {index_order(len(vector), "$1::vector")} LIMIT 3
        """,
        literal,
    )
    return [row["entity_id"] for row in rows]


def test_new_and_updated_entities_are_indexed(api: httpx.Client, clean_db: str) -> None:
    created = make_entity(api, "p1", "product", category="audio", tags=["wireless"])
    make_entity(api, "p2", "product", category="garden", tags=["hose"])
    wait_until_indexed(clean_db, "p1")
    wait_until_indexed(clean_db, "p2")
    assert nearest_through_the_index(clean_db, created["feature_vector"])[0] == "p1"

    updated = api.put(
        "/api/v1/entities/p1", json={"attributes": {"category": "garden", "tags": ["rake"]}}
    ).json()
    wait_until_indexed(clean_db, "p1")
    assert nearest_through_the_index(clean_db, updated["feature_vector"])[0] == "p1"
    plan = fetch(
        clean_db,
        "EXPLAIN SELECT entity_id FROM entities WHERE indexed "
        f"ORDER BY {index_order(512, '$1::vector')} LIMIT 3",
        "[" + ",".join(["0.1"] * 512) + "]",
    )
    assert any("entities_feature_vector_idx" in row["QUERY PLAN"] for row in plan)


def test_vector_values_must_fit_the_half_precision_index(api: httpx.Client) -> None:
    body = {"entity_id": "v1", "entity_type": "product", "feature_vector": [65_505.0] * 512}
    assert_error(api.post("/api/v1/entities", json=body), 422, "validation_error")
    largest = api.post("/api/v1/entities", json=body | {"feature_vector": [65_504.0] * 512})
    assert largest.status_code == 201, largest.text


def test_a_vector_the_index_cannot_hold_does_not_stop_the_others(
    api: httpx.Client, clean_db: str
) -> None:
    # A vector stored before values were bounded (written here straight into the table).
    fetch(
        clean_db,
        "INSERT INTO entities (tenant_id, entity_type, entity_id, attributes, feature_vector) "
        "VALUES ('default', 'product', 'old', '{}', $1::vector)",
        "[" + ",".join(["136228.97"] * 512) + "]",
    )
    make_entity(api, "p1", "product", category="audio")
    make_entity(api, "p2", "product", category="audio")
    wait_until_indexed(clean_db, "p1")
    wait_until_indexed(clean_db, "p2")
    rows = fetch(clean_db, "SELECT indexed FROM entities WHERE entity_id = 'old'")
    assert rows == [{"indexed": None}]  # set aside: neither indexed nor pending
    similar = api.get("/api/v1/recommendations/entity/p1", params={"algorithm": "content_based"})
    assert similar.status_code == 200
    assert [r["entity_id"] for r in similar.json()["recommendations"]] == ["p2"]
    assert api.get("/api/v1/entities/old").status_code == 200
