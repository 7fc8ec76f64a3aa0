"""API keys: X-API-Key or Bearer on every /api/v1 route, or none when not required."""

from __future__ import annotations

import httpx
import pytest

from recommendation_engine.config import AuthSettings
from tests.support import API_KEY, assert_error, client, count, make_settings, serve

SECURED = [
    ("GET", "/api/v1/interaction-types"),
    ("POST", "/api/v1/interaction-types"),
    ("GET", "/api/v1/interaction-types/view"),
    ("PUT", "/api/v1/interaction-types/view"),
    ("DELETE", "/api/v1/interaction-types/view"),
    ("POST", "/api/v1/entities"),
    ("POST", "/api/v1/entities/bulk"),
    ("GET", "/api/v1/entities/export"),
    ("GET", "/api/v1/entities/p1"),
    ("PUT", "/api/v1/entities/p1"),
    ("DELETE", "/api/v1/entities/p1"),
    ("POST", "/api/v1/interactions"),
    ("POST", "/api/v1/interactions/bulk"),
    ("GET", "/api/v1/interactions/export"),
    ("GET", "/api/v1/interactions/user/u1"),
    ("GET", "/api/v1/interactions/entity/p1"),
    ("GET", "/api/config"),
]


@pytest.mark.parametrize(("method", "path"), SECURED)
def test_every_route_needs_the_key(base_url: str, clean_db: str, method: str, path: str) -> None:
    with client(base_url, api_key=None) as anonymous:
        error = assert_error(anonymous.request(method, path, json={}), 401, "unauthorized")
    assert "X-API-Key" in error["message"]


def test_a_wrong_key_is_refused_and_nothing_is_written(base_url: str, clean_db: str) -> None:
    body = {"entity_id": "p1", "entity_type": "product"}
    with client(base_url, api_key="not-the-key") as wrong:
        assert_error(wrong.post("/api/v1/entities", json=body), 401, "unauthorized")
    with client(base_url, api_key=API_KEY[:-1]) as prefix:
        assert_error(prefix.post("/api/v1/entities", json=body), 401, "unauthorized")
    with client(base_url, api_key="") as empty:
        assert_error(empty.post("/api/v1/entities", json=body), 401, "unauthorized")
    assert count(clean_db, "entities") == 0


def test_bearer_token_is_accepted(base_url: str, clean_db: str) -> None:
    with client(base_url, api_key=None, Authorization=f"Bearer {API_KEY}") as bearer:
        created = bearer.post("/api/v1/entities", json={"entity_id": "p1", "entity_type": "t"})
        assert created.status_code == 201
        assert bearer.get("/api/v1/entities/p1").status_code == 200
    with client(base_url, api_key=None, Authorization="Bearer wrong") as wrong:
        assert_error(wrong.get("/api/v1/entities/p1"), 401, "unauthorized")
    with client(base_url, api_key=None, Authorization=f"Basic {API_KEY}") as basic:
        assert_error(basic.get("/api/v1/entities/p1"), 401, "unauthorized")


def test_x_api_key_is_accepted(api: httpx.Client) -> None:
    assert api.get("/api/v1/interaction-types").status_code == 200


def test_no_key_needed_when_not_required(database_url: str, clean_db: str) -> None:
    settings = make_settings(database_url, auth=AuthSettings(require_api_key=False))
    with serve(settings) as url, client(url, api_key=None) as anonymous:
        created = anonymous.post("/api/v1/entities", json={"entity_id": "p1", "entity_type": "t"})
        assert created.status_code == 201
        assert anonymous.get("/api/v1/entities/p1").status_code == 200
        assert anonymous.get("/api/config").json()["auth"]["require_api_key"] is False
    assert count(clean_db, "entities") == 1
