"""Errors outside the handlers keep the JSON error shape: size limit, routing, bad JSON."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import httpx

from tests.support import API_KEY, assert_error, count, fetch, make_entity

LIMIT = 1024 * 1024


def oversized_bulk() -> bytes:
    row = b'{"entity_id": "e", "entity_type": "t", "attributes": {"pad": "' + b"x" * 1000 + b'"}}'
    rows = b",".join([row] * (LIMIT // len(row) + 10))
    body = b'{"entities": [' + rows + b"]}"
    assert len(body) > LIMIT
    return body


def test_declared_body_over_the_limit_is_413(api: httpx.Client, clean_db: str) -> None:
    response = api.post(
        "/api/v1/entities/bulk",
        content=oversized_bulk(),
        headers={"content-type": "application/json"},
    )
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"] == {"max_bytes": LIMIT}
    assert count(clean_db, "entities") == 0


def test_streamed_body_over_the_limit_is_413(api: httpx.Client, clean_db: str) -> None:
    body = oversized_bulk()

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = api.post(
        "/api/v1/entities/bulk", content=chunks(), headers={"content-type": "application/json"}
    )
    error = assert_error(response, 413, "payload_too_large")
    assert str(LIMIT) in error["message"]
    assert count(clean_db, "entities") == 0


def test_body_under_the_limit_is_accepted(api: httpx.Client) -> None:
    pad = "x" * (LIMIT // 2)
    body = {"entity_id": "big", "entity_type": "t", "attributes": {"pad": pad}}
    response = api.post("/api/v1/entities", json=body)
    assert response.status_code == 201
    assert api.get("/api/v1/entities/big").json()["attributes"]["pad"] == pad


def test_unknown_route_is_404(api: httpx.Client) -> None:
    assert_error(api.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(api.get("/"), 404, "not_found")
    assert_error(api.post("/api/v2/entities", json={}), 404, "not_found")


def test_wrong_method_is_405(api: httpx.Client) -> None:
    error = assert_error(api.patch("/api/v1/entities/p1", json={}), 405, "method_not_allowed")
    assert error["message"]
    assert_error(api.delete("/api/v1/interactions/bulk"), 405, "method_not_allowed")
    response = api.put("/health")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


def test_malformed_json_is_422(api: httpx.Client, clean_db: str) -> None:
    for content in (b"{bad json", b'{"entity_id": "a", "entity_type": "t"', b"\xff\xfe"):
        response = api.post(
            "/api/v1/entities", content=content, headers={"content-type": "application/json"}
        )
        error = assert_error(response, 422, "validation_error")
        assert isinstance(error["details"], list) and error["details"]
    assert count(clean_db, "entities") == 0


def test_missing_body_is_422(api: httpx.Client) -> None:
    assert_error(api.post("/api/v1/interactions"), 422, "validation_error")


def test_an_internal_error_keeps_the_connection_usable(
    api: httpx.Client, base_url: str, clean_db: str
) -> None:
    """A 500 is an answer like any other: the client's next request on the same
    keep-alive connection is served."""
    make_entity(api, "p1")
    port = int(base_url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"X-API-Key": API_KEY}
    fetch(clean_db, "ALTER TABLE entities RENAME TO entities_away")  # a real fault
    try:
        connection.request("GET", "/api/v1/entities/p1", headers=headers)
        failed = connection.getresponse()
        body = json.loads(failed.read())
    finally:
        fetch(clean_db, "ALTER TABLE entities_away RENAME TO entities")
    assert failed.status == 500 and body["error"]["code"] == "internal_error"
    assert failed.getheader("Connection") != "close"
    assert failed.getheader("X-Request-ID")
    connection.request("GET", "/api/v1/entities/p1", headers=headers)  # the same socket
    again = connection.getresponse()
    assert again.status == 200 and json.loads(again.read())["entity_id"] == "p1"
    connection.close()
