"""Retries: 429 from a rate-limited service, 503 while its database restarts, connection
errors on a closed port."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from conftest import Service, _start, _stop, free_port
from recommendation_client import (
    APIConnectionError,
    APITimeoutError,
    AsyncRecommendationClient,
    RateLimitError,
    RecommendationClient,
    ServiceUnavailableError,
)


def counting_client(service: Service, **kw: object) -> tuple[RecommendationClient, list[str]]:
    sent: list[str] = []
    http = httpx.Client(
        base_url=service.url, headers={"X-API-Key": service.api_key},
        event_hooks={"request": [lambda r: sent.append(f"{r.method} {r.url.path}")]},
    )
    return RecommendationClient(service.url, http_client=http, **kw), sent  # type: ignore[arg-type]


def exhaust(service: Service) -> None:
    for _ in range(10):
        httpx.get(f"{service.url}/api/v1/tenant", headers={"X-API-Key": service.api_key})


def test_429_is_retried_after_retry_after(limited_service: Service) -> None:
    client, sent = counting_client(limited_service, max_retries=6)
    exhaust(limited_service)
    started = time.monotonic()
    assert client.get_tenant().tenant_id == "default"
    assert len(sent) >= 2  # at least one 429 answered before the success
    assert time.monotonic() - started >= 0.5  # it waited as Retry-After said


def test_429_error_carries_retry_after(limited_service: Service) -> None:
    client, sent = counting_client(limited_service, max_retries=0)
    exhaust(limited_service)
    with pytest.raises(RateLimitError) as caught:
        client.get_tenant()
    assert len(sent) == 1
    error = caught.value
    assert error.status == 429 and error.code == "rate_limited"
    assert error.retry_after is not None and error.retry_after > 0 and error.request_id


def test_non_idempotent_post_is_not_retried(limited_service: Service) -> None:
    client, sent = counting_client(limited_service, max_retries=5)
    exhaust(limited_service)
    with pytest.raises(RateLimitError):
        client.create_entity(entity_id="x", entity_type="product")
    assert sent == ["POST /api/v1/entities"]


def test_record_interaction_is_retried(limited_service: Service) -> None:
    client, sent = counting_client(limited_service, max_retries=8)
    time.sleep(2.5)
    client.create_entity(entity_id="r1", entity_type="product")
    exhaust(limited_service)
    before = len(sent)
    interaction = client.record_interaction(user_id="u", entity_id="r1", interaction_type="view")
    assert len(sent) - before >= 2 and interaction.event_id


def test_connection_errors_are_retried_then_raised() -> None:
    port = free_port()  # nothing listens there
    with RecommendationClient(f"http://127.0.0.1:{port}", api_key="k", max_retries=2,
                              backoff_factor=0.05) as client:
        sent: list[str] = []
        client._http.event_hooks["request"] = [lambda r: sent.append(r.method)]
        with pytest.raises(APIConnectionError) as caught:
            client.get_entity(entity_id="x")
        assert len(sent) == 3 and caught.value.status is None
        assert isinstance(caught.value.__cause__, httpx.ConnectError)
        sent.clear()
        with pytest.raises(APIConnectionError):
            client.create_entity(entity_id="x", entity_type="t")
        assert len(sent) == 1  # a POST that is not idempotent: tried once


def test_timeouts_raise_api_timeout_error() -> None:
    # A socket that accepts connections (backlog) and never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with RecommendationClient(url, api_key="k", timeout=0.3, max_retries=1, backoff_factor=0.01) as client:
            started = time.monotonic()
            with pytest.raises(APITimeoutError) as caught:
                client.get_model_status()
            assert isinstance(caught.value, APIConnectionError) and caught.value.code == "timeout"
            assert time.monotonic() - started >= 0.6  # two attempts


def test_async_client_retries_too(limited_service: Service) -> None:
    async def main() -> None:
        port = free_port()
        async with AsyncRecommendationClient(f"http://127.0.0.1:{port}", max_retries=1,
                                             backoff_factor=0.01) as closed:
            with pytest.raises(APIConnectionError):
                await closed.get_tenant()
        exhaust(limited_service)
        async with AsyncRecommendationClient(limited_service.url, api_key=limited_service.api_key,
                                             max_retries=0) as client:
            with pytest.raises(RateLimitError):
                await client.get_tenant()
        async with AsyncRecommendationClient(limited_service.url, api_key=limited_service.api_key,
                                             max_retries=6) as client:
            assert (await client.get_tenant()).tenant_id == "default"

    asyncio.run(main())


def test_503_while_the_database_restarts_is_retried(tmp_path: Path) -> None:
    # A service of its own, whose embedded PostgreSQL is killed: while the service starts
    # it again, requests get 503 database_unavailable with Retry-After, then succeed.
    process, service = _start(tmp_path)
    try:
        client, sent = counting_client(service, max_retries=10, backoff_factor=0.2)
        answers: list[int] = []
        client._http.event_hooks["response"] = [lambda r: answers.append(r.status_code)]
        client.create_entity(entity_id="p1", entity_type="product")
        pgdata = tmp_path / "data" / "postgres"
        os.kill(int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0]), signal.SIGKILL)
        time.sleep(1)  # its server processes notice and exit
        entity = client.get_entity(entity_id="p1", entity_type="product")
        assert entity.entity_id == "p1"
        assert 503 in answers[1:], answers  # it was answered 503 at least once, and retried
        assert answers[-1] == 200
        with pytest.raises(ServiceUnavailableError) as caught:
            os.kill(int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0]), signal.SIGKILL)
            time.sleep(1)
            counting_client(service, max_retries=0)[0].get_entity(entity_id="p1")
        assert caught.value.code == "database_unavailable" and caught.value.retry_after
    finally:
        _stop(process)
