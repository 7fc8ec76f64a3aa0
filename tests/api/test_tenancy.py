"""X-Tenant-ID: with multi-tenancy on, each tenant sees only its own data."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from recommendation_engine.config import TenancySettings
from tests.support import assert_error, client, make_entity, make_settings, read_ndjson, serve

ENTITY = {"entity_id": "p1", "entity_type": "product", "attributes": {"owner": "a"}}


@pytest.fixture(scope="module")
def tenant_url(database_url: str) -> Iterator[str]:
    settings = make_settings(database_url, tenancy=TenancySettings(enable_multi_tenancy=True))
    with serve(settings) as url:
        yield url


@pytest.fixture
def tenant(tenant_url: str, clean_db: str) -> Iterator[dict[str, httpx.Client]]:
    with (
        client(tenant_url, **{"X-Tenant-ID": "a"}) as a,
        client(tenant_url, **{"X-Tenant-ID": "b"}) as b,
        client(tenant_url) as default,
    ):
        yield {"a": a, "b": b, "default": default}


def test_an_entity_is_invisible_to_other_tenants(tenant: dict[str, httpx.Client]) -> None:
    a, b = tenant["a"], tenant["b"]
    created = a.post("/api/v1/entities", json=ENTITY)
    assert created.status_code == 201
    assert created.json()["tenant_id"] == "a"

    assert_error(b.get("/api/v1/entities/p1"), 404, "not_found")
    assert_error(tenant["default"].get("/api/v1/entities/p1"), 404, "not_found")
    assert read_ndjson(b.get("/api/v1/entities/export")) == []
    assert_error(b.delete("/api/v1/entities/p1"), 404, "not_found")
    assert a.get("/api/v1/entities/p1").json()["attributes"] == {"owner": "a"}


def test_tenants_can_reuse_ids_independently(tenant: dict[str, httpx.Client]) -> None:
    a, b = tenant["a"], tenant["b"]
    a.post("/api/v1/entities", json=ENTITY).raise_for_status()
    other = b.post("/api/v1/entities", json={**ENTITY, "attributes": {"owner": "b"}})
    assert other.status_code == 201
    assert other.json()["tenant_id"] == "b"
    assert a.get("/api/v1/entities/p1").json()["attributes"] == {"owner": "a"}
    assert b.get("/api/v1/entities/p1").json()["attributes"] == {"owner": "b"}
    assert b.delete("/api/v1/entities/p1").status_code == 204
    assert a.get("/api/v1/entities/p1").status_code == 200


def test_interactions_are_scoped_by_tenant(tenant: dict[str, httpx.Client]) -> None:
    a, b = tenant["a"], tenant["b"]
    make_entity(a, "p1")
    body = {"user_id": "u1", "entity_id": "p1", "interaction_type": "view", "event_id": "e1"}
    assert a.post("/api/v1/interactions", json=body).status_code == 201
    # tenant b has no entity p1 to interact with
    assert_error(b.post("/api/v1/interactions", json=body), 404, "not_found")
    make_entity(b, "p1")
    # the same event id is a new event in another tenant
    assert b.post("/api/v1/interactions", json=body).status_code == 201
    assert len(a.get("/api/v1/interactions/user/u1").json()) == 1
    assert len(b.get("/api/v1/interactions/user/u1").json()) == 1
    assert tenant["default"].get("/api/v1/interactions/user/u1").json() == []


def test_interaction_type_weights_are_per_tenant(tenant_url: str, clean_db: str) -> None:
    # tenants of their own: the app caches each tenant's types for a few seconds
    with (
        client(tenant_url, **{"X-Tenant-ID": "weights-a"}) as a,
        client(tenant_url, **{"X-Tenant-ID": "weights-b"}) as b,
    ):
        assert a.put("/api/v1/interaction-types/view", json={"weight": 9.0}).status_code == 200
        created = a.post(
            "/api/v1/interaction-types", json={"interaction_type": "share", "default_weight": 2}
        )
        assert created.status_code == 201
        assert a.get("/api/v1/interaction-types/view").json()["default_weight"] == 9.0
        assert b.get("/api/v1/interaction-types/view").json()["default_weight"] == 1.0
        assert_error(b.get("/api/v1/interaction-types/share"), 404, "not_found")


@pytest.mark.parametrize("header", ["has space", "x" * 65, "a/b", "user@x"])
def test_an_invalid_tenant_header_is_400(tenant_url: str, header: str) -> None:
    with client(tenant_url, **{"X-Tenant-ID": header}) as bad:
        error = assert_error(bad.get("/api/v1/interaction-types"), 400, "bad_request")
    assert error["details"] == {"header": "X-Tenant-ID"}


def test_without_multi_tenancy_only_the_default_tenant_may_be_named(
    api: httpx.Client, base_url: str
) -> None:
    api.post("/api/v1/entities", json=ENTITY).raise_for_status()
    with client(base_url, **{"X-Tenant-ID": "b"}) as b:
        error = assert_error(b.get("/api/v1/entities/p1"), 400, "bad_request")
    assert error["details"] == {"header": "X-Tenant-ID", "tenant_id": "b"}
    with client(base_url, **{"X-Tenant-ID": "default"}) as named:
        got = named.get("/api/v1/entities/p1")
    assert got.status_code == 200
    assert got.json()["tenant_id"] == "default"
