"""Requests as the original service's clients send them, and the fields they read back:
bulk reports with job fields, tagged interaction types, tenant_id in bodies and query
strings, generated_at and cold_start, numeric error statuses, and registering a type
that exists."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from recommendation_engine.config import EngineSettings, TenancySettings
from tests.api.test_recommendations import catalogue, rebuild  # noqa: F401 (a fixture)
from tests.support import assert_error, client, count, fetch, make_entity, make_settings, serve


@pytest.fixture(scope="module")
def tenancy_url(database_url: str) -> Iterator[str]:
    settings = make_settings(
        database_url,
        tenancy=TenancySettings(enable_multi_tenancy=True),
        engine=EngineSettings(background_jobs=False),
    )
    with serve(settings) as url:
        yield url


@pytest.fixture
def admin(tenancy_url: str, clean_db: str) -> Iterator[httpx.Client]:
    with client(tenancy_url) as http:
        yield http


def tenant_key(admin: httpx.Client, tenant_id: str) -> str:
    response = admin.post("/api/v1/admin/api-keys", json={"tenant_id": tenant_id})
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


# Bulk reports ---------------------------------------------------------------------------


def test_an_entity_bulk_report_has_the_original_job_fields(api: httpx.Client) -> None:
    rows = [
        {"entity_id": "product-1", "entity_type": "product", "attributes": {"price": 10}},
        {"entity_id": "product-2", "entity_type": "product", "attributes": {"price": 11}},
        {"entity_id": "bad id", "entity_type": "product"},
    ]
    report = api.post("/api/v1/entities/bulk", json={"entities": rows}).json()
    # what the original e-commerce example prints
    assert report["successful"] == 2 and report["failed"] == 1
    assert report["total_records"] == report["processed"] == report["received"] == 3
    assert report["status"] == "partial"
    assert uuid.UUID(report["job_id"])
    (error,) = report["errors"]
    assert error["entity_id"] == "bad id"
    assert "entity_id" in error["error"]
    assert error["index"] == 2 and error["reason"] == "invalid"  # today's fields stay

    again = api.post("/api/v1/entities/bulk", json={"entities": rows[:2]}).json()
    assert again["status"] == "completed" and again["successful"] == 2 and again["errors"] == []
    assert again["job_id"] != report["job_id"]
    refused = api.post("/api/v1/entities/bulk", json={"entities": rows[2:]}).json()
    assert refused["status"] == "failed" and refused["successful"] == 0


def test_an_interaction_bulk_report_names_the_failed_rows_user(api: httpx.Client) -> None:
    make_entity(api, "product-1")
    rows = [
        {
            "user_id": "user-1",
            "entity_id": "product-1",
            "entity_type": "product",
            "interaction_type": "view",
        },
        {
            "user_id": "user-2",
            "entity_id": "missing",
            "entity_type": "product",
            "interaction_type": "view",
        },
        {"user_id": "user-3", "entity_id": "product-1", "interaction_type": "teleport"},
    ]
    report = api.post("/api/v1/interactions/bulk", json={"interactions": rows}).json()
    assert (report["successful"], report["failed"], report["status"]) == (1, 2, "partial")
    errors = {e["user_id"]: e for e in report["errors"]}
    assert set(errors) == {"user-2", "user-3"}
    assert errors["user-2"]["entity_id"] == "missing"
    assert errors["user-2"]["error"] == "the entity does not exist"
    assert errors["user-3"]["error"] == "the interaction type is not registered"


# Tagged interaction types ---------------------------------------------------------------


def test_tagged_interaction_types_are_a_rating_and_a_custom_type(
    api: httpx.Client, clean_db: str
) -> None:
    make_entity(api, "product-1")
    registered = api.post(
        "/api/v1/interaction-types", json={"interaction_type": "share", "default_weight": 4.0}
    )
    assert registered.status_code == 201
    base = {"user_id": "user-1", "entity_id": "product-1", "entity_type": "product"}

    rating = api.post("/api/v1/interactions", json=base | {"interaction_type": {"rating": 4.5}})
    assert rating.status_code == 201, rating.text
    assert rating.json()["interaction_type"] == "rating" and rating.json()["value"] == 4.5
    share = api.post("/api/v1/interactions", json=base | {"interaction_type": {"custom": "share"}})
    assert share.status_code == 201, share.text
    assert share.json()["interaction_type"] == "share" and share.json()["weight"] == 4.0

    rows = [base | {"interaction_type": {"rating": 2}}, base | {"interaction_type": "view"}]
    report = api.post("/api/v1/interactions/bulk", json={"interactions": rows}).json()
    assert report["successful"] == 2
    stored = fetch(clean_db, "SELECT interaction_type, value FROM interactions ORDER BY id")
    assert [(r["interaction_type"], r["value"]) for r in stored] == [
        ("rating", 4.5),
        ("share", None),
        ("rating", 2.0),
        ("view", None),
    ]


@pytest.mark.parametrize(
    "tagged",
    [
        {"custom": "unregistered"},
        {"custom": 3},
        {"rating": "high"},
        {"rating": 4, "custom": "share"},
        {"purchase": 5},
    ],
)
def test_a_bad_tagged_type_is_422_and_stores_nothing(
    api: httpx.Client, clean_db: str, tagged: dict
) -> None:
    make_entity(api, "product-1")
    body = {"user_id": "user-1", "entity_id": "product-1", "interaction_type": tagged}
    assert_error(api.post("/api/v1/interactions", json=body), 422, "validation_error")
    assert count(clean_db, "interactions") == 0


def test_a_tagged_rating_and_a_different_value_disagree(api: httpx.Client) -> None:
    make_entity(api, "product-1")
    body = {"user_id": "u", "entity_id": "product-1", "interaction_type": {"rating": 4}, "value": 3}
    assert_error(api.post("/api/v1/interactions", json=body), 422, "validation_error")


# tenant_id in bodies and query strings --------------------------------------------------


def test_tenant_id_in_a_body_or_query_acts_like_the_header(
    admin: httpx.Client, clean_db: str
) -> None:
    entity = {"entity_id": "p1", "entity_type": "product", "tenant_id": "acme"}
    created = admin.post("/api/v1/entities", json=entity)
    assert created.status_code == 201 and created.json()["tenant_id"] == "acme"
    assert admin.get("/api/v1/entities/p1", params={"tenant_id": "acme"}).status_code == 200
    assert admin.get("/api/v1/entities/p1").status_code == 404  # not in the default tenant

    # the bulk import that used to land in the default tenant
    rows = [{"entity_id": f"q{n}", "entity_type": "product"} for n in range(3)]
    report = admin.post("/api/v1/entities/bulk", json={"tenant_id": "acme", "entities": rows})
    assert report.json()["successful"] == 3
    interactions = [{"user_id": "u1", "entity_id": "q0", "interaction_type": "view"}]
    report = admin.post(
        "/api/v1/interactions/bulk", json={"tenant_id": "acme", "interactions": interactions}
    )
    assert report.json()["successful"] == 1, report.text
    assert count(clean_db, "entities", "acme") == 4
    assert count(clean_db, "interactions", "acme") == 1
    assert count(clean_db, "entities", "default") == 0
    assert count(clean_db, "interactions", "default") == 0


def test_a_tenant_key_naming_another_tenant_anywhere_is_403(
    admin: httpx.Client, tenancy_url: str, clean_db: str
) -> None:
    key = tenant_key(admin, "acme")
    entity = {"entity_id": "p1", "entity_type": "product"}
    with client(tenancy_url, api_key=key) as acme:
        mine = acme.post("/api/v1/entities", json=entity | {"tenant_id": "acme"})
        assert mine.status_code == 201
        for response in (
            acme.post("/api/v1/entities", json=entity | {"tenant_id": "globex"}),
            acme.post("/api/v1/entities/bulk", json={"tenant_id": "globex", "entities": [entity]}),
            acme.get("/api/v1/entities/p1", params={"tenant_id": "globex"}),
            acme.get("/api/v1/recommendations/trending", params={"tenant_id": "globex"}),
        ):
            assert_error(response, 403, "forbidden")
    assert count(clean_db, "entities", "globex") == 0


def test_tenants_named_twice_must_agree(admin: httpx.Client, clean_db: str) -> None:
    entity = {"entity_id": "p1", "entity_type": "product", "tenant_id": "acme"}
    refused = admin.post("/api/v1/entities", json=entity, headers={"X-Tenant-ID": "globex"})
    error = assert_error(refused, 400, "bad_request")
    assert error["details"] == {"header": "globex", "body": "acme"}
    agreed = admin.post("/api/v1/entities", json=entity, headers={"X-Tenant-ID": "acme"})
    assert agreed.status_code == 201
    malformed = admin.get("/api/v1/entities/p1", params={"tenant_id": "not valid"})
    assert_error(malformed, 400, "bad_request")
    assert count(clean_db, "entities", "globex") == 0


def test_a_bulk_row_naming_another_tenant_fails_alone(admin: httpx.Client, clean_db: str) -> None:
    rows = [
        {"entity_id": "p1", "entity_type": "product", "tenant_id": "acme"},
        {"entity_id": "p2", "entity_type": "product", "tenant_id": "globex"},
        {"entity_id": "p3", "entity_type": "product"},
    ]
    report = admin.post(
        "/api/v1/entities/bulk", json={"entities": rows}, headers={"X-Tenant-ID": "acme"}
    ).json()
    assert (report["successful"], report["failed"]) == (2, 1)
    (error,) = report["errors"]
    assert (error["index"], error["reason"], error["entity_id"]) == (1, "tenant_mismatch", "p2")
    assert count(clean_db, "entities", "acme") == 2
    assert count(clean_db, "entities", "globex") == 0


def test_without_multi_tenancy_a_named_tenant_must_be_the_default(
    api: httpx.Client, clean_db: str
) -> None:
    entity = {"entity_id": "p1", "entity_type": "product"}
    named = api.post("/api/v1/entities", json=entity | {"tenant_id": "default"})
    assert named.status_code == 201
    other = api.post("/api/v1/entities/bulk", json={"tenant_id": "acme", "entities": [entity]})
    error = assert_error(other, 400, "bad_request")
    assert error["details"] == {"body": "tenant_id", "tenant_id": "acme"}
    assert_error(api.get("/api/v1/entities/p1", params={"tenant_id": "acme"}), 400, "bad_request")
    assert count(clean_db, "entities", "acme") == 0
    assert count(clean_db, "entities") == 1


# Response fields ------------------------------------------------------------------------


def test_recommendation_answers_say_when_they_were_generated(
    catalogue: httpx.Client,  # noqa: F811
) -> None:
    started = datetime.now(UTC)
    lists = [
        catalogue.get("/api/v1/recommendations/user/u1").json(),
        catalogue.get("/api/v1/recommendations/entity/m1").json(),
        catalogue.get("/api/v1/recommendations/trending").json(),
    ]
    for body in lists:
        assert started <= datetime.fromisoformat(body["generated_at"]) <= datetime.now(UTC)


def test_similar_entities_say_whether_the_entity_is_cold(
    catalogue: httpx.Client,  # noqa: F811
) -> None:
    rebuild(catalogue)
    warm = catalogue.get("/api/v1/recommendations/entity/m1").json()
    assert warm["cold_start"] is False and warm["recommendations"]
    make_entity(catalogue, "m99", "movie", genre="drama", decade="1990s")
    cold = catalogue.get("/api/v1/recommendations/entity/m99").json()
    assert cold["cold_start"] is True
    assert all(r["reason"] == "content" for r in cold["recommendations"])


def test_errors_carry_the_numeric_status(api: httpx.Client) -> None:
    for response, status in (
        (api.get("/api/v1/entities/nothing"), 404),
        (api.post("/api/v1/entities", json={"entity_id": "x"}), 422),
        (
            api.post(
                "/api/v1/entities", content=b"{", headers={"content-type": "application/json"}
            ),
            422,
        ),
        (api.get("/api/v1/nowhere"), 404),
    ):
        assert response.status_code == status
        assert response.json()["error"]["status"] == status


# Registering a type that exists ---------------------------------------------------------


def test_registering_add_to_cart_as_the_original_walk_through_does(api: httpx.Client) -> None:
    body = {"interaction_type": "add_to_cart", "default_weight": 3.0}
    response = api.post("/api/v1/interaction-types", json=body)
    assert response.status_code == 200, response.text  # built in with that weight already
    assert response.json() == {
        "interaction_type": "add_to_cart",
        "default_weight": 3.0,
        "built_in": True,
        "description": None,
    }
    other = api.post("/api/v1/interaction-types", json=body | {"default_weight": 4.0})
    error = assert_error(other, 409, "conflict")
    assert error["details"]["default_weight"] == 3.0 and "PUT" in error["message"]
    assert api.get("/api/v1/interaction-types/add_to_cart").json()["default_weight"] == 3.0


def test_registering_a_custom_type_twice(api: httpx.Client) -> None:
    body = {"interaction_type": "share", "default_weight": 4.0, "description": "shared it"}
    assert api.post("/api/v1/interaction-types", json=body).status_code == 201
    again = api.post("/api/v1/interaction-types", json=body)
    assert again.status_code == 200 and again.json()["description"] == "shared it"
    changed = api.post("/api/v1/interaction-types", json=body | {"default_weight": 5.0})
    assert_error(changed, 409, "conflict")
    described = api.post("/api/v1/interaction-types", json=body | {"description": "other"})
    assert_error(described, 409, "conflict")
    assert api.get("/api/v1/interaction-types/share").json()["default_weight"] == 4.0
