"""Pure ASGI middleware (cheaper per request than BaseHTTPMiddleware)."""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recommendation_engine import metrics
from recommendation_engine.api.responses import error_response
from recommendation_engine.logging_setup import log_request
from recommendation_engine.storage.database import is_unavailable


class BodySizeLimit:
    """Reject request bodies over ``max_bytes`` with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._reject(scope, receive, send)
                    return
                break
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException, because FastAPI turns any other error raised
                    # while it reads the body into 400 "error parsing the body".
                    raise HTTPException(413, self._message(), {"Connection": "close"})
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"the request body is larger than the limit of {self.max_bytes} bytes"

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "payload_too_large",
            self._message(),
            {"max_bytes": self.max_bytes},
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


# How long a client is asked to wait before trying again while the database is away.
RETRY_AFTER_SECONDS = 5
logger = logging.getLogger(__name__)


class ErrorBoundary:
    """Answer every exception the application leaves unhandled, so that the server never
    sees one and keeps the client's connection open: 503 with Retry-After when the
    database cannot be reached (its pooled connections are then replaced as they are
    next used, so nothing stale outlives an outage), 500 for anything else.

    An exception after the response has started can only end the response.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_and_note(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception as exc:
            if started:
                raise
            response = await self._answer(exc, scope)
            await response(scope, receive, send)

    @staticmethod
    async def _answer(exc: Exception, scope: Scope) -> Response:
        if is_unavailable(exc):
            logger.warning("database unavailable on %s %s: %r", scope["method"], scope["path"], exc)
            services = getattr(scope["app"].state, "services", None)
            if services is not None:
                await services.pool.expire_connections()
            return error_response(
                503,
                "database_unavailable",
                "the database cannot be reached at the moment; try again shortly",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        logger.error("unhandled error on %s %s", scope["method"], scope["path"], exc_info=exc)
        return error_response(500, "internal_error", "an unexpected error occurred")


# Sent with every response: no MIME sniffing, no framing, no referrer leaks.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_REQUEST_ID = b"x-request-id"
# Request ids: a random prefix per process and a counter (no system call per request).
_ID_PREFIX = uuid.uuid4().hex[:16]
_id_counter = itertools.count(1)
request_log = logging.getLogger("recommendation_engine.requests")


def _new_request_id() -> bytes:
    return f"{_ID_PREFIX}{next(_id_counter):016x}".encode()


class RequestObservation:
    """For every HTTP request: count and time it, labelled by its route template (never
    the raw path, whose ids would make a series per entity) and status; log it at info
    with its request id, tenant, route, status and duration; answer with the request id
    (the client's X-Request-ID, or a new one) and the security headers."""

    def __init__(self, app: ASGIApp, metrics: bool = True) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        request_id = (
            next((value for name, value in scope["headers"] if name == _REQUEST_ID), None)
            or _new_request_id()
        )

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    *SECURITY_HEADERS,
                    (_REQUEST_ID, request_id),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            if self.metrics:
                _observe(method, route, status, elapsed)
            if request_log.isEnabledFor(logging.INFO):
                _log(request_id, scope, method, route, status, elapsed)


# Per (method, route, status): the metric series a request adds to. Looking them up by
# their labels on every request costs more than the counting itself.
_series: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}


def _observe(method: str, route: str, status: int, elapsed: float) -> None:
    series = _series.get((method, route, status))
    if series is None:
        code = str(status)
        series = _series[method, route, status] = (
            metrics.HTTP_REQUESTS.labels(method, route, code),
            metrics.HTTP_ERRORS.labels(method, route, code) if status >= 400 else None,
            metrics.HTTP_DURATION.labels(method, route),
        )
    requests, errors, duration = series
    requests.inc()
    if errors is not None:
        errors.inc()
    duration.observe(elapsed)


def _log(
    request_id: bytes, scope: Scope, method: str, route: str, status: int, elapsed: float
) -> None:
    fields = {
        "request_id": request_id.decode("latin-1"),
        "tenant": scope.get("state", {}).get("tenant"),
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(elapsed * 1000, 2),
    }
    log_request(request_log, f"{method} {route} {status} {elapsed * 1000:.1f}ms", fields)
