"""Request ids, the request log, security headers and CORS."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from recommendation_engine.config import ServerSettings, TenancySettings
from recommendation_engine.logging_setup import JsonFormatter
from tests.support import client, make_settings, serve


def test_every_response_has_a_request_id_and_security_headers(api: httpx.Client) -> None:
    response = api.get("/api/v1/entities/missing")
    assert response.status_code == 404
    assert len(response.headers["x-request-id"]) == 32
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    given = api.get("/health", headers={"X-Request-ID": "trace-me-123"})
    assert given.headers["x-request-id"] == "trace-me-123"


def test_each_request_is_logged_with_its_fields(
    clean_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(clean_db, tenancy=TenancySettings(enable_multi_tenancy=True))
    caplog.set_level(logging.INFO, logger="recommendation_engine.requests")
    with serve(settings) as url, client(url, **{"X-Tenant-ID": "acme"}) as api:
        api.get("/api/v1/entities/missing", headers={"X-Request-ID": "r-1"})
    [record] = [r for r in caplog.records if getattr(r, "request_id", None) == "r-1"]
    assert record.tenant == "acme"
    assert record.route == "/api/v1/entities/{entity_id}"
    assert record.status == 404 and record.method == "GET"
    assert record.duration_ms >= 0
    line = json.loads(JsonFormatter().format(record))
    assert {k: line[k] for k in ("request_id", "tenant", "route", "status")} == {
        "request_id": "r-1",
        "tenant": "acme",
        "route": "/api/v1/entities/{entity_id}",
        "status": 404,
    }
    assert line["level"] == "INFO" and "timestamp" in line


def test_cors_allows_only_the_configured_origins(clean_db: str) -> None:
    settings = make_settings(
        clean_db,
        server=ServerSettings(cors_allowed_origins="https://shop.example, https://admin.example"),
    )
    with serve(settings) as url, client(url) as api:
        preflight = api.options(
            "/api/v1/recommendations/trending",
            headers={
                "Origin": "https://shop.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "X-API-Key",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
        allowed = api.get("/health", headers={"Origin": "https://admin.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://admin.example"
        other = api.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    # Without the setting, no CORS headers at all.
    with serve(make_settings(clean_db)) as url, client(url) as api:
        plain = api.get("/health", headers={"Origin": "https://shop.example"})
        assert "access-control-allow-origin" not in plain.headers
