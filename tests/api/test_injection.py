"""SQL-looking input is rejected by validation or stored as plain data, never executed."""

from __future__ import annotations

import httpx
import pytest

from tests.support import assert_error, fetch, make_entity

PAYLOADS = [
    "x';DROP TABLE entities;--",
    "1 OR 1=1",
    'x"); DELETE FROM interactions; --',
    "x'||pg_sleep(5)||'",
]
TABLES = ("entities", "interactions", "interaction_types")


def tables_exist(database_url: str) -> bool:
    rows = fetch(
        database_url,
        "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY($1)",
        list(TABLES),
    )
    return rows[0]["n"] == len(TABLES)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sql_in_ids_is_rejected(api: httpx.Client, clean_db: str, payload: str) -> None:
    make_entity(api, "p1")
    body = {"entity_id": payload, "entity_type": "product"}
    assert_error(api.post("/api/v1/entities", json=body), 422, "validation_error")
    typed = {"entity_id": "p2", "entity_type": payload}
    assert_error(api.post("/api/v1/entities", json=typed), 422, "validation_error")
    interaction = {"user_id": payload, "entity_id": "p1", "interaction_type": "view"}
    assert_error(api.post("/api/v1/interactions", json=interaction), 422, "validation_error")
    kind = {"interaction_type": payload, "default_weight": 1}
    assert_error(api.post("/api/v1/interaction-types", json=kind), 422, "validation_error")
    assert_error(
        api.get("/api/v1/entities/p1", params={"entity_type": payload}), 422, "validation_error"
    )
    assert_error(api.get(f"/api/v1/interactions/user/{payload}"), 422, "validation_error")

    assert tables_exist(clean_db)
    assert api.get("/api/v1/entities/p1").status_code == 200


def test_sql_in_attributes_and_metadata_is_plain_data(api: httpx.Client, clean_db: str) -> None:
    attributes = {payload: payload for payload in PAYLOADS}
    make_entity(api, "p1", **attributes)
    recorded = api.post(
        "/api/v1/interactions",
        json={
            "user_id": "u1",
            "entity_id": "p1",
            "interaction_type": "view",
            "metadata": {"q": PAYLOADS[0]},
        },
    )
    assert recorded.status_code == 201
    assert api.get("/api/v1/entities/p1").json()["attributes"] == attributes
    assert api.get("/api/v1/interactions/user/u1").json()[0]["metadata"] == {"q": PAYLOADS[0]}
    assert tables_exist(clean_db)
    assert fetch(clean_db, "SELECT count(*) AS n FROM interactions")[0]["n"] == 1
