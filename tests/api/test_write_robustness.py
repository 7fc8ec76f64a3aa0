"""One client's bad write never fails another's, and an error answer stores nothing.

Concurrent single interactions share one INSERT (group commit): a row PostgreSQL would
refuse is refused before it joins a group, and if a group fails all the same its rows
are written one by one, so only the bad one fails.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from recommendation_engine.storage import interactions as repo
from recommendation_engine.storage.database import create_pool
from recommendation_engine.storage.group_commit import GroupCommitter
from recommendation_engine.storage.interactions import NewInteraction
from tests.api.test_metrics import scrape
from tests.api.test_recommendations import rebuild
from tests.support import API_KEY, assert_error, count, fetch, make_entity

URL = "/api/v1/interactions"


def body(user: str, **fields: object) -> dict:
    return {"user_id": user, "entity_id": "p1", "interaction_type": "view", **fields}


async def _post_together(base_url: str, bodies: list[dict]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(
        base_url=base_url, headers={"X-API-Key": API_KEY}, timeout=30, limits=limits
    ) as http:
        # json.dumps escapes what httpx's own encoder cannot send (a lone surrogate).
        headers = {"Content-Type": "application/json"}
        return await asyncio.gather(
            *(http.post(URL, content=json.dumps(b), headers=headers) for b in bodies)
        )


@pytest.mark.parametrize(
    "bad",
    [
        {"metadata": {"x": "\u0000"}},
        {"metadata": {"\u0000": 1}},
        {"metadata": {"x": "\ud800"}},
        {"value": 1e308},
        {"timestamp": "0001-01-01T00:00:00Z"},
    ],
    ids=["nul value", "nul key", "lone surrogate", "huge value", "year one"],
)
def test_a_bad_write_among_concurrent_good_ones_fails_alone(
    api: httpx.Client, base_url: str, clean_db: str, bad: dict
) -> None:
    make_entity(api, "p1")
    bodies = [body(f"u{n}") for n in range(40)]
    bodies.insert(20, body("bad", **bad))
    responses = asyncio.run(_post_together(base_url, bodies))
    bad_response = responses.pop(20)
    assert_error(bad_response, 422, "validation_error")
    assert [r.status_code for r in responses] == [201] * 40, [r.text for r in responses]
    stored = fetch(clean_db, "SELECT user_id FROM interactions")
    assert sorted(r["user_id"] for r in stored) == sorted(f"u{n}" for n in range(40))


def _row(user: str, metadata: dict | None = None) -> NewInteraction:
    return NewInteraction(
        tenant_id="default",
        user_id=user,
        entity_type="product",
        entity_id="p1",
        interaction_type="view",
        weight=None,
        value=None,
        metadata=metadata,
        event_id=None,
        occurred_at=datetime.now(UTC),
    )


def test_a_group_the_database_refuses_is_written_row_by_row(
    api: httpx.Client, clean_db: str
) -> None:
    """Whatever slips past validation: the group is retried one row at a time."""
    make_entity(api, "p1")

    async def run() -> list[object]:
        pool = await create_pool(clean_db, max_size=2)
        try:

            async def write_many(conn: asyncpg.Connection, rows: list[NewInteraction]) -> list:
                stored, _ = await repo.insert_many(conn, rows)
                return stored

            committer: GroupCommitter[NewInteraction, object] = GroupCommitter(
                pool, write_many, max_concurrent=1
            )
            # Queued together, so that the first flush takes them as one group.
            rows = [_row(f"u{n}") for n in range(10)]
            rows.insert(5, _row("bad", {"x": "\u0000"}))
            return await asyncio.gather(
                *(committer.submit(r) for r in rows), return_exceptions=True
            )
        finally:
            await pool.close()

    results = asyncio.run(run())
    failed = [n for n, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [5]
    assert count(clean_db, "interactions") == 10


@pytest.mark.parametrize(
    ("field", "value"),
    [("value", 1e308), ("value", -1e7), ("weight", 1e7), ("weight", -1.5e6)],
)
def test_weights_and_values_beyond_the_documented_range_are_refused(
    api: httpx.Client, clean_db: str, field: str, value: float
) -> None:
    make_entity(api, "p1")
    error = assert_error(api.post(URL, json=body("u1", **{field: value})), 422, "validation_error")
    assert field in str(error["details"])
    assert count(clean_db, "interactions") == 0


def test_weights_and_values_at_the_limit_are_accepted(api: httpx.Client, clean_db: str) -> None:
    make_entity(api, "p1")
    response = api.post(URL, json=body("u1", interaction_type="rating", value=1e6))
    assert response.status_code == 201, response.text
    response = api.post(URL, json=body("u2", weight=-1e6))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("post", "/api/v1/interaction-types", {"interaction_type": "big", "default_weight": 1e7}),
        ("put", "/api/v1/interaction-types/view", {"weight": -1e308}),
        ("put", "/api/v1/admin/tenants/t1", {"interaction_type_weights": {"view": 2e6}}),
    ],
)
def test_type_weights_beyond_the_range_are_refused(
    api: httpx.Client, clean_db: str, method: str, path: str, payload: dict
) -> None:
    assert_error(getattr(api, method)(path, json=payload), 422, "validation_error")
    assert count(clean_db, "interaction_types") == 0
    assert fetch(clean_db, "SELECT count(*) AS n FROM tenants")[0]["n"] == 0


@pytest.mark.parametrize(
    "stamp",
    [
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "1969-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before year one in UTC
        "9999-12-31T23:00:00-02:00",  # after year 9999 in UTC
        1700000000,  # a number is not RFC 3339 text
    ],
)
def test_timestamps_outside_the_valid_range_are_refused_and_not_stored(
    api: httpx.Client, clean_db: str, stamp: str | int
) -> None:
    make_entity(api, "p1")
    for _ in range(2):  # a retry stores nothing either
        error = assert_error(
            api.post(URL, json=body("u1", timestamp=stamp)), 422, "validation_error"
        )
        assert "timestamp" in str(error["details"])
    assert count(clean_db, "interactions") == 0


@pytest.mark.parametrize(
    "stamp",
    [
        "1970-01-01T00:00:00Z",
        "2199-12-31T23:59:59.999999Z",
        "1970-01-01T00:30:00+01:00",  # the year as written counts: 1969 in UTC
        "2199-12-31T23:30:00-01:00",  # 2200 in UTC
    ],
)
def test_timestamps_at_the_ends_of_the_range_are_stored_exactly(
    api: httpx.Client, clean_db: str, stamp: str
) -> None:
    make_entity(api, "p1")
    response = api.post(URL, json=body("u1", timestamp=stamp))
    assert response.status_code == 201, response.text
    expected = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert datetime.fromisoformat(response.json()["timestamp"]) == expected
    assert count(clean_db, "interactions") == 1


def test_bulk_rows_outside_the_ranges_are_reported_and_the_rest_stored(
    api: httpx.Client, clean_db: str
) -> None:
    make_entity(api, "p1")
    rows = [
        body("u0"),
        body("u1", value=1e308),
        body("u2", timestamp="9999-12-31T23:59:59.999999Z"),
        body("u3", weight=3.0),
    ]
    response = api.post(f"{URL}/bulk", json={"interactions": rows})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["created"] == 2
    assert [(e["index"], e["reason"]) for e in result["errors"]] == [(1, "invalid"), (2, "invalid")]
    stored = fetch(clean_db, "SELECT user_id FROM interactions ORDER BY user_id")
    assert [r["user_id"] for r in stored] == ["u0", "u3"]


def _ignored(api: httpx.Client, stage: str) -> float:
    return scrape(api).get(("interactions_ignored_total", (("stage", stage),)), 0.0)


def test_rows_stored_out_of_range_are_ignored_by_training_and_trending(
    api: httpx.Client, clean_db: str
) -> None:
    """Rows stored before the range was enforced neither stop a rebuild nor overflow the
    trending aggregate: they count for nothing, and a metric counts them."""
    for name in ("p1", "p2", "p3"):
        make_entity(api, name)
    for user in ("u1", "u2"):
        for item in ("p1", "p2"):
            assert api.post(URL, json=body(user, entity_id=item)).status_code == 201
    for user, kind in (("u3", "rating"), ("u4", "purchase")):
        response = api.post(URL, json=body(user, entity_id="p3", interaction_type=kind, value=5))
        assert response.status_code == 201
    # What an earlier release accepted: a huge value, a weight that is not a number.
    fetch(clean_db, "UPDATE interactions SET value = 1e308 WHERE user_id = 'u3'")
    fetch(clean_db, "UPDATE interactions SET weight = 'NaN' WHERE user_id = 'u4'")
    before = {stage: _ignored(api, stage) for stage in ("training", "trending")}

    status = rebuild(api)

    # p3 stays in the model for its attributes, though its interactions are ignored
    assert status["interactions"] == 4 and status["entities"] == 3
    trending = api.get("/api/v1/recommendations/trending").json()["trending"]
    assert sorted(t["entity_id"] for t in trending) == ["p1", "p2"]
    assert all(t["score"] == 2.0 for t in trending)
    assert {stage: _ignored(api, stage) - before[stage] for stage in before} == {
        "training": 2,
        "trending": 2,
    }
    listed = api.get(f"{URL}/user/u3").json()
    assert listed[0]["weight"] is None  # counts for nothing, and says so
    assert api.get("/api/v1/recommendations/user/u3").status_code == 200
