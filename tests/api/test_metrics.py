"""GET /metrics: Prometheus metrics, scraped and parsed."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from recommendation_engine.config import ServerSettings
from tests.api.test_recommendations import catalogue, rebuild  # noqa: F401
from tests.support import (
    API_KEY,
    assert_error,
    cli_env,
    client,
    free_port,
    make_entity,
    make_settings,
    serve,
    wait_until_ready,
)


def scrape(url_or_client: str | httpx.Client) -> dict[tuple[str, tuple], float]:
    """Every sample: (name, sorted labels) -> value."""
    if isinstance(url_or_client, httpx.Client):
        response = url_or_client.get("/metrics")
    else:
        response = httpx.get(f"{url_or_client}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_route_template_and_status(api: httpx.Client) -> None:
    before = scrape(api)
    make_entity(api, "p1", "product", colour="red")
    assert api.get("/api/v1/entities/p1").status_code == 200
    assert api.get("/api/v1/entities/nope").status_code == 404
    assert api.get("/no/such/path").status_code == 404
    after = scrape(api)
    route = "/api/v1/entities/{entity_id}"

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("http_requests_total", method="GET", route=route, status="200") == 1
    assert grew("http_requests_total", method="GET", route=route, status="404") == 1
    assert grew("http_requests_errors_total", method="GET", route=route, status="404") == 1
    assert grew("http_requests_errors_total", method="GET", route=route, status="200") == 0
    assert grew("http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert grew("http_request_duration_seconds_count", method="GET", route=route) == 2
    # Raw paths never become labels.
    assert not any("p1" in str(labels) for _, labels in after)
    assert value(after, "database_pool_max_connections") == 10
    assert value(after, "database_pool_connections") >= 1


def test_cache_model_and_recommendation_metrics(catalogue: httpx.Client) -> None:  # noqa: F811
    rebuild(catalogue)
    before = scrape(catalogue)
    for _ in range(3):
        assert catalogue.get("/api/v1/recommendations/user/u0").status_code == 200
    assert catalogue.get("/api/v1/recommendations/trending").status_code == 200
    after = scrape(catalogue)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("recommendations_served_total", route="user", algorithm="hybrid") == 3
    assert grew("recommendations_served_total", route="trending", algorithm="trending") == 1
    assert grew("redis_cache_misses_total", layer="memory") == 2  # u0 once, trending once
    assert grew("redis_cache_hits_total", layer="memory") == 2  # u0 twice more
    assert value(after, "model_entities", tenant="default") == 11  # b0 too, for its content
    assert value(after, "model_users", tenant="default") == 10
    assert 0 <= value(after, "model_age_seconds", tenant="default") < 600
    assert value(after, "model_build_duration_seconds_count", kind="full") >= 1


def test_several_workers_report_one_sum(database_url: str) -> None:
    port = free_port()
    env = cli_env(
        DATABASE_URL=database_url,
        PORT=str(port),
        HOST="127.0.0.1",
        API_KEY=API_KEY,
        WORKERS="2",
        BACKGROUND_JOBS="false",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "recommendation_engine", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(process, url)
        before = value(
            scrape(url), "http_requests_total", method="GET", route="/health", status="200"
        )
        for _ in range(40):  # new connections: spread over both workers
            assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        # Whichever worker answers the scrape, it reports both workers' requests.
        for _ in range(4):
            total = value(
                scrape(url), "http_requests_total", method="GET", route="/health", status="200"
            )
            assert total - before == 40
        assert value(scrape(url), "database_pool_max_connections") == 40  # 2 x 20
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def test_metrics_can_be_turned_off(database_url: str, clean_db: str) -> None:
    labels = {"method": "GET", "route": "/api/v1/entities/{entity_id}", "status": "404"}
    settings = make_settings(
        database_url,
        server=ServerSettings(max_request_body_bytes=1024 * 1024, metrics_enabled=False),
    )
    with serve(settings) as url, client(url) as http:
        before = REGISTRY.get_sample_value("http_requests_total", labels) or 0.0
        for _ in range(3):
            assert http.get("/api/v1/entities/nope").status_code == 404
        assert (REGISTRY.get_sample_value("http_requests_total", labels) or 0.0) == before
        error = assert_error(http.get("/metrics"), 404, "not_found")
        assert "METRICS_ENABLED" in error["message"]


def test_a_metrics_key_keeps_metrics_from_anyone_without_it(database_url: str) -> None:
    settings = make_settings(
        database_url,
        server=ServerSettings(max_request_body_bytes=1024 * 1024, metrics_api_key="scrape-key"),
    )
    with serve(settings) as url:
        for headers in ({}, {"X-API-Key": API_KEY}, {"Authorization": "Bearer wrong"}):
            error = assert_error(httpx.get(f"{url}/metrics", headers=headers), 401, "unauthorized")
            assert "METRICS_API_KEY" in error["message"]
        for headers in ({"X-API-Key": "scrape-key"}, {"Authorization": "Bearer scrape-key"}):
            response = httpx.get(f"{url}/metrics", headers=headers)
            assert response.status_code == 200 and "http_requests_total" in response.text
        config = httpx.get(f"{url}/api/config", headers={"X-API-Key": API_KEY}).json()
        assert config["server"]["metrics_api_key"] == "********"
