"""/api/v1/admin: tenants with their own configuration, and API keys bound to tenants."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import httpx
import pytest

from recommendation_engine.config import EngineSettings, TenancySettings
from tests.api.test_recommendations import GENRES, HISTORIES, rebuild, record
from tests.support import API_KEY, assert_error, client, count, fetch, make_entity, make_settings
from tests.support import serve as serve_app

TRENDING = "/api/v1/recommendations/trending"


@pytest.fixture(scope="module")
def admin_url(database_url: str) -> Iterator[str]:
    settings = make_settings(
        database_url,
        tenancy=TenancySettings(enable_multi_tenancy=True),
        engine=EngineSettings(background_jobs=False, default_recommendation_count=4),
    )
    with serve_app(settings) as url:
        yield url


@pytest.fixture
def admin(admin_url: str, clean_db: str) -> Iterator[httpx.Client]:
    with client(admin_url) as http:
        yield http


def new_key(admin: httpx.Client, tenant_id: str | None, name: str = "test") -> dict:
    response = admin.post("/api/v1/admin/api-keys", json={"name": name, "tenant_id": tenant_id})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_tenant_key_acts_for_its_tenant_only(
    admin: httpx.Client, admin_url: str, clean_db: str
) -> None:
    key = new_key(admin, "acme")["key"]
    with client(admin_url, api_key=key) as acme:
        created = acme.post("/api/v1/entities", json={"entity_id": "p1", "entity_type": "product"})
        assert created.status_code == 201 and created.json()["tenant_id"] == "acme"
        # naming its own tenant is fine, naming another is refused and writes nothing
        mine = acme.get("/api/v1/entities/p1", headers={"X-Tenant-ID": "acme"})
        assert mine.status_code == 200
        body = {"entity_id": "p2", "entity_type": "product"}
        refused = acme.post("/api/v1/entities", json=body, headers={"X-Tenant-ID": "other"})
        assert_error(refused, 403, "forbidden")
    assert count(clean_db, "entities", "other") == 0
    assert count(clean_db, "entities", "acme") == 1
    # the administrator's key reaches any tenant through X-Tenant-ID
    seen = admin.get("/api/v1/entities/p1", headers={"X-Tenant-ID": "acme"})
    assert seen.status_code == 200


def test_keys_are_stored_hashed_listed_without_the_key_and_revocable(
    admin: httpx.Client, admin_url: str, clean_db: str
) -> None:
    created = new_key(admin, "acme", name="storefront")
    key = created["key"]
    assert key.startswith("rek_") and len(key) > 40
    assert created["prefix"] == key[:12] and created["role"] == "tenant"
    stored = fetch(clean_db, "SELECT key_hash, key_prefix FROM api_keys")
    assert stored == [{"key_hash": hashlib.sha256(key.encode()).digest(), "key_prefix": key[:12]}]

    listed = admin.get("/api/v1/admin/api-keys", params={"tenant_id": "acme"}).json()
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and listed[0]["name"] == "storefront"
    assert admin.get("/api/v1/admin/api-keys", params={"tenant_id": "none"}).json() == []

    with client(admin_url, api_key=key) as acme:
        assert acme.get("/api/v1/interaction-types").status_code == 200
        assert admin.delete(f"/api/v1/admin/api-keys/{created['id']}").status_code == 204
        assert_error(acme.get("/api/v1/interaction-types"), 401, "unauthorized")
    assert_error(admin.delete(f"/api/v1/admin/api-keys/{created['id']}"), 404, "not_found")
    assert_error(admin.delete("/api/v1/admin/api-keys/not-a-uuid"), 422, "validation_error")


def test_admin_routes_refuse_tenant_keys_and_accept_admin_keys(
    admin: httpx.Client, admin_url: str
) -> None:
    tenant_key = new_key(admin, "acme")["key"]
    admin_key = new_key(admin, None, name="ops")
    assert admin_key["role"] == "admin" and admin_key["tenant_id"] is None
    with client(admin_url, api_key=tenant_key) as acme:
        for method, path in (
            ("GET", "/api/v1/admin/tenants"),
            ("GET", "/api/v1/admin/tenants/acme"),
            ("PUT", "/api/v1/admin/tenants/acme"),
            ("DELETE", "/api/v1/admin/tenants/acme"),
            ("GET", "/api/v1/admin/api-keys"),
            ("POST", "/api/v1/admin/api-keys"),
            ("DELETE", f"/api/v1/admin/api-keys/{admin_key['id']}"),
        ):
            assert_error(acme.request(method, path, json={}), 403, "forbidden")
    assert len(admin.get("/api/v1/admin/api-keys").json()) == 2  # nothing was revoked
    with client(admin_url, api_key=admin_key["key"]) as ops:
        assert [t["tenant_id"] for t in ops.get("/api/v1/admin/tenants").json()] == ["acme"]
    with client(admin_url, api_key="rek_" + "x" * 43) as unknown:
        assert_error(unknown.get("/api/v1/admin/tenants"), 401, "unauthorized")


def test_tenant_configuration_overrides_the_environment(
    admin: httpx.Client, admin_url: str
) -> None:
    put = admin.put(
        "/api/v1/admin/tenants/acme",
        json={
            "name": "Acme",
            "config": {"default_recommendation_count": 2, "max_recommendation_count": 3},
            "interaction_type_weights": {"view": 4.0, "wishlist": 2.5},
        },
    )
    assert put.status_code == 201, put.text
    tenant = put.json()
    assert tenant["config"] == {"default_recommendation_count": 2, "max_recommendation_count": 3}
    assert tenant["effective_config"]["default_recommendation_count"] == 2
    assert tenant["effective_config"]["collaborative_weight"] == 0.6  # the environment's
    assert tenant["interaction_type_weights"]["view"] == 4.0
    assert tenant["interaction_type_weights"]["wishlist"] == 2.5

    acme, other = {"X-Tenant-ID": "acme"}, {"X-Tenant-ID": "other"}
    for tenant in ("acme", "other"):
        with client(admin_url, **{"X-Tenant-ID": tenant}) as http:
            for n in range(6):
                make_entity(http, f"m{n}", "movie", genre=GENRES[n % 2])
            for user, items in HISTORIES.items():
                for item in items:
                    if int(item[1:]) < 6:
                        record(http, user, item)
            rebuild(http)  # computes the trending lists
    assert len(admin.get(TRENDING, headers=acme).json()["trending"]) == 2
    assert len(admin.get(TRENDING, headers=other).json()["trending"]) == 4  # environment's 4
    too_many = admin.get(TRENDING, params={"count": 4}, headers=acme)
    details = assert_error(too_many, 400, "bad_request")["details"]
    assert details == {"max_recommendation_count": 3}
    assert len(admin.get(TRENDING, params={"count": 5}, headers=other).json()["trending"]) == 5
    view = admin.get("/api/v1/interaction-types/view", headers=acme).json()
    assert view["default_weight"] == 4.0
    assert admin.get("/api/v1/interaction-types/view", headers=other).json()["default_weight"] == 1

    # replacing the configuration drops what was left out
    again = admin.put("/api/v1/admin/tenants/acme", json={"config": {"similarity_threshold": 0.9}})
    assert again.status_code == 200
    assert again.json()["effective_config"]["default_recommendation_count"] == 4
    assert len(admin.get(TRENDING, headers=acme).json()["trending"]) == 4
    assert admin.get("/api/v1/admin/tenants/acme").json()["name"] is None


def test_invalid_configuration_is_refused_and_changes_nothing(admin: httpx.Client) -> None:
    for body in (
        {"config": {"default_recommendation_count": 50, "max_recommendation_count": 10}},
        {"config": {"collaborative_weight": 0, "content_based_weight": 0}},
        {"config": {"similarity_threshold": 2}},
        {"config": {"unknown_setting": 1}},
        {"interaction_type_weights": {"view": "heavy"}},
        {"config": {"max_recommendation_count": 0}},
    ):
        assert_error(admin.put("/api/v1/admin/tenants/acme", json=body), 422, "validation_error")
    assert_error(admin.get("/api/v1/admin/tenants/acme"), 404, "not_found")
    assert_error(admin.put("/api/v1/admin/tenants/bad%20id", json={}), 422, "validation_error")
    assert admin.get("/api/v1/admin/tenants").json() == []


def test_deleting_a_tenant_deletes_its_data_and_keys(
    admin: httpx.Client, admin_url: str, clean_db: str
) -> None:
    key = new_key(admin, "acme")["key"]
    with client(admin_url, api_key=key) as acme:
        make_entity(acme, "m1", "movie")
        record(acme, "u1", "m1")
        experiment = {"name": "e", "route": "user", "variants": [{"name": "b", "share": 0.5}]}
        assert acme.post("/api/v1/experiments", json=experiment).status_code == 201
        acme.get("/api/v1/recommendations/user/u1").raise_for_status()
        rebuild(acme)  # trending data and counts
    assert count(clean_db, "interaction_users", "acme") == 1
    with client(admin_url, **{"X-Tenant-ID": "other"}) as other:
        make_entity(other, "m1", "movie")
    deadline = time.monotonic() + 10
    while count(clean_db, "impressions", "acme") == 0:  # written within a second
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert admin.delete("/api/v1/admin/tenants/acme").status_code == 204
    for table in ("entities", "interactions", "experiments", "impressions", "interaction_users"):
        assert count(clean_db, table, "acme") == 0
    assert count(clean_db, "entities", "other") == 1
    with client(admin_url, api_key=key) as acme:
        assert_error(acme.get("/api/v1/entities/m1"), 401, "unauthorized")
    assert_error(admin.delete("/api/v1/admin/tenants/acme"), 404, "not_found")


def test_a_tenant_key_cannot_leave_the_default_tenant_without_multi_tenancy(
    database_url: str, clean_db: str
) -> None:
    with serve_app(make_settings(database_url)) as url, client(url) as admin:
        key = new_key(admin, "acme")["key"]
        default_key = new_key(admin, "default")["key"]
        with client(url, api_key=key) as acme:
            assert_error(acme.get("/api/v1/interaction-types"), 403, "forbidden")
        with client(url, api_key=default_key) as own:
            assert own.get("/api/v1/interaction-types").status_code == 200
        assert API_KEY  # the environment's key is still the administrator's


def test_a_tenant_reads_its_own_settings(admin: httpx.Client, admin_url: str) -> None:
    put = admin.put("/api/v1/admin/tenants/acme", json={"config": {"similarity_threshold": 0.8}})
    assert put.status_code == 201
    key = new_key(admin, "acme")["key"]
    with client(admin_url, api_key=key) as acme:
        own = acme.get("/api/v1/tenant").json()
    assert own["tenant_id"] == "acme" and own["registered"] is True
    assert own["config"] == {"similarity_threshold": 0.8}
    assert own["effective_config"]["similarity_threshold"] == 0.8
    assert own["effective_config"]["default_recommendation_count"] == 4  # the environment's
    # A tenant nobody registered answers with the environment's settings.
    other = admin.get("/api/v1/tenant", headers={"X-Tenant-ID": "other"}).json()
    assert other["tenant_id"] == "other" and other["registered"] is False
    assert other["config"] == {} and other["created_at"] is None
    assert other["effective_config"]["similarity_threshold"] == 0.5
    assert other["interaction_type_weights"]["purchase"] == 5.0
