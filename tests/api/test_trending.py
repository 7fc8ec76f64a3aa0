"""GET /api/v1/recommendations/trending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from recommendation_engine.config import TenancySettings
from recommendation_engine.service.trending import STORED_WINDOWS
from recommendation_engine.storage import trending as trending_repo
from tests.api.test_recommendations import rebuild
from tests.support import assert_error, client, make_entity, make_settings, serve

URL = "/api/v1/recommendations/trending"


def record(api: httpx.Client, user: str, entity: str, days_ago: float, kind: str = "view") -> None:
    when = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    response = api.post(
        "/api/v1/interactions",
        json={"user_id": user, "entity_id": entity, "interaction_type": kind, "timestamp": when},
    )
    assert response.status_code == 201, response.text


@pytest.fixture(params=["one statement", "in chunks of 4 ids"])
def activity(
    api: httpx.Client, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> httpx.Client:
    # A backlog is folded into the daily aggregate a range of ids at a time; the lists
    # are the same whether it takes one statement or many.
    if request.param != "one statement":
        monkeypatch.setattr(trending_repo, "FOLD_CHUNK_IDS", 4)
    for name, kind in (("new", "movie"), ("old", "movie"), ("book", "book"), ("quiet", "movie")):
        make_entity(api, name, kind, title=name)
    for user in range(3):
        record(api, f"u{user}", "new", days_ago=0.1)
    for user in range(15):  # 15 views 20 days ago: 15 * 2^(-20/15) = 5.95 over 30 days
        record(api, f"u{user}", "old", days_ago=20)
    record(api, "u0", "book", days_ago=1, kind="purchase")
    rebuild(api)
    return api


def listed(body: dict) -> list[str]:
    return [item["entity_id"] for item in body["trending"]]


def test_recent_activity_trends_within_the_window(activity: httpx.Client) -> None:
    body = activity.get(URL).json()
    assert body["window_days"] == 7 and body["count"] == 2
    assert listed(body) == ["book", "new"]  # a purchase (5) outweighs three views
    first = body["trending"][0]
    assert first["reason"] == "trending" and first["attributes"] == {"title": "book"}
    assert first["score"] > body["trending"][1]["score"] > 0
    month = activity.get(URL, params={"window_days": 30}).json()
    assert listed(month)[0] == "old" and set(listed(month)) == {"old", "new", "book"}
    assert "quiet" not in listed(month)


def test_type_filter_count_and_bounds(activity: httpx.Client) -> None:
    assert listed(activity.get(URL, params={"entity_type": "movie"}).json()) == ["new"]
    assert listed(activity.get(URL, params={"window_days": 30, "count": 1}).json()) == ["old"]
    assert listed(activity.get(URL, params={"entity_type": "podcast"}).json()) == []
    assert_error(activity.get(URL, params={"window_days": 0}), 422, "validation_error")
    assert_error(activity.get(URL, params={"window_days": 91}), 422, "validation_error")
    assert_error(activity.get(URL, params={"count": 101}), 400, "bad_request")


def test_deleted_entities_never_trend(activity: httpx.Client) -> None:
    assert activity.delete("/api/v1/entities/book").status_code == 204
    assert listed(activity.get(URL).json()) == ["new"]  # the stored list
    assert "book" not in listed(activity.get(URL, params={"window_days": 30}).json())


def test_new_activity_shows_after_a_refresh(activity: httpx.Client) -> None:
    for user in range(20):
        record(activity, f"v{user}", "quiet", days_ago=0)
    # Stored lists (1, 7, 30 and 90 days) and lists computed when asked (3 days) alike
    # wait for the refresh to fold the new interactions in.
    windows = [*STORED_WINDOWS, 3]
    for window in windows:
        assert "quiet" not in listed(activity.get(URL, params={"window_days": window}).json())
    rebuild(activity)
    for window in windows:
        assert listed(activity.get(URL, params={"window_days": window}).json())[0] == "quiet"


def test_trending_is_per_tenant(clean_db: str) -> None:
    settings = make_settings(clean_db, tenancy=TenancySettings(enable_multi_tenancy=True))
    with (
        serve(settings) as base,
        client(base, **{"X-Tenant-ID": "a"}) as a,
        client(base, **{"X-Tenant-ID": "b"}) as b,
    ):
        make_entity(a, "hit", "movie")
        make_entity(b, "hit", "movie")
        record(a, "u1", "hit", days_ago=0)
        rebuild(a)
        rebuild(b)
        assert listed(a.get(URL).json()) == ["hit"]
        assert listed(b.get(URL).json()) == []
        assert listed(b.get(URL, params={"window_days": 3}).json()) == []
