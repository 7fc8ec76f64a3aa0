"""Probes, the masked configuration and the OpenAPI document."""

from __future__ import annotations

import httpx

from recommendation_engine import __version__
from recommendation_engine.models import NAME_PATTERN
from tests.support import API_KEY, assert_error, client

API_ROUTES = {
    "/api/v1/entities": {"post"},
    "/api/v1/entities/bulk": {"post"},
    "/api/v1/entities/export": {"get"},
    "/api/v1/entities/{entity_id}": {"get", "put", "delete"},
    "/api/v1/interactions": {"post"},
    "/api/v1/interactions/bulk": {"post"},
    "/api/v1/interactions/export": {"get"},
    "/api/v1/interactions/user/{user_id}": {"get"},
    "/api/v1/interactions/entity/{entity_id}": {"get"},
    "/api/v1/interaction-types": {"get", "post"},
    "/api/v1/interaction-types/{interaction_type}": {"get", "put", "delete"},
    "/api/v1/recommendations/user/{user_id}": {"get"},
    "/api/v1/model/status": {"get"},
    "/api/v1/model/rebuild": {"post"},
    "/api/v1/recommendations/trending": {"get"},
    "/api/v1/recommendations/entity/{entity_id}": {"get"},
    "/api/v1/admin/tenants": {"get"},
    "/api/v1/admin/tenants/{tenant_id}": {"get", "put", "delete"},
    "/api/v1/admin/api-keys": {"get", "post"},
    "/api/v1/admin/api-keys/{key_id}": {"delete"},
    "/api/v1/tenant": {"get"},
    "/api/v1/webhooks": {"get", "post"},
    "/api/v1/webhooks/{webhook_id}": {"get", "put", "delete"},
    "/api/v1/webhooks/{webhook_id}/deliveries": {"get"},
    "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry": {"post"},
    "/api/v1/experiments": {"get", "post"},
    "/api/v1/experiments/{experiment_id}": {"get"},
    "/api/v1/experiments/{experiment_id}/start": {"post"},
    "/api/v1/experiments/{experiment_id}/stop": {"post"},
    "/api/v1/experiments/{experiment_id}/results": {"get"},
    "/api/v1/evaluation/online": {"get"},
}
SYSTEM_ROUTES = {"/health": {"get"}, "/ready": {"get"}, "/api/config": {"get"}}


def test_health_needs_no_key(base_url: str) -> None:
    with client(base_url, api_key=None) as anonymous:
        response = anonymous.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


def test_ready_checks_the_database(base_url: str) -> None:
    with client(base_url, api_key=None) as anonymous:
        response = anonymous.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


def test_config_requires_the_key(base_url: str) -> None:
    with client(base_url, api_key=None) as anonymous:
        assert_error(anonymous.get("/api/config"), 401, "unauthorized")
    with client(base_url, api_key="wrong") as wrong:
        assert_error(wrong.get("/api/config"), 401, "unauthorized")


def test_config_masks_secrets(api: httpx.Client, database_url: str) -> None:
    response = api.get("/api/config")
    assert response.status_code == 200
    config = response.json()
    assert config["auth"] == {"api_key": "********", "require_api_key": True}
    assert config["database"]["url"] == "********"
    assert config["redis"]["url"] is None
    assert config["limits"]["max_bulk_items"] == 1000
    assert config["server"]["max_request_body_bytes"] == 1024 * 1024
    assert API_KEY not in response.text
    assert database_url not in response.text


def test_openapi_document_lists_every_route_and_schema(api: httpx.Client) -> None:
    response = api.get("/api/docs")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "recommendation-engine"
    paths = {
        path: {method for method in item if method != "parameters"}
        for path, item in document["paths"].items()
    }
    assert {p: m for p, m in paths.items() if p.startswith("/api/v1")} == API_ROUTES
    for path, methods in SYSTEM_ROUTES.items():
        assert paths[path] == methods

    schemas = document["components"]["schemas"]
    for name in (
        "EntityOut",
        "EntityInput",
        "EntityUpdate",
        "InteractionOut",
        "InteractionInput",
        "InteractionTypeOut",
        "BulkResultOut",
        "ErrorResponse",
        "ExperimentInput",
        "ExperimentOut",
        "ExperimentResultsOut",
        "OnlineEvaluationOut",
    ):
        assert name in schemas, name
    assert set(schemas["ErrorResponse"]["properties"]) == {"error"}
    assert {"ApiKey", "Bearer"} <= set(document["components"]["securitySchemes"])

    create = document["paths"]["/api/v1/entities"]["post"]
    assert "201" in create["responses"]
    error_ref = create["responses"]["409"]["content"]["application/json"]["schema"]["$ref"]
    assert error_ref.endswith("/ErrorResponse")


def test_openapi_document_names_credentials_tenant_and_query_parameters(
    api: httpx.Client,
) -> None:
    """Credentials and the tenant are read by the service itself, not by parameters of
    FastAPI's; the document still names them on every operation that reads them, and the
    recommendation routes' query parameters one by one."""
    document = api.get("/api/docs").json()
    assert document["components"]["securitySchemes"] == {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "Bearer": {"type": "http", "scheme": "bearer"},
    }
    operations = {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    for (_, path), operation in operations.items():
        secured = path.startswith("/api/v1/") or path == "/api/config"
        assert (operation.get("security") == [{"ApiKey": []}, {"Bearer": []}]) == secured, path
        named = [(p["in"], p["name"]) for p in operation.get("parameters", [])]
        acts_for_tenant = path.startswith("/api/v1/") and not path.startswith("/api/v1/admin/")
        assert named[-2:] == [("query", "tenant_id"), ("header", "X-Tenant-ID")] or (
            not acts_for_tenant
        ), path
        if acts_for_tenant:
            header = operation["parameters"][-1]
            assert header["required"] is False
            assert header["schema"]["pattern"] == NAME_PATTERN
    user = operations["get", "/api/v1/recommendations/user/{user_id}"]
    assert [p["name"] for p in user["parameters"]] == [
        "user_id",
        "count",
        "algorithm",
        "collaborative_weight",
        "content_based_weight",
        "entity_type",
        "exclude",
        "exclude_seen",
        "tenant_id",
        "X-Tenant-ID",
    ]
    similar = operations["get", "/api/v1/recommendations/entity/{entity_id}"]
    assert "user_id" in [p["name"] for p in similar["parameters"] if p["in"] == "query"]
    trending = operations["get", "/api/v1/recommendations/trending"]
    window = next(p for p in trending["parameters"] if p["name"] == "window_days")
    assert window["schema"]["maximum"] == 90
