"""The asynchronous client."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, AsyncIterator, Mapping, Optional, Type

import httpx

from ._async_endpoints import AsyncEndpoints
from ._base import (
    DEFAULT_BASE_URL,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    RETRY_STATUSES,
    BaseClient,
    Call,
    TimeoutTypes,
)
from .errors import APIConnectionError, APITimeoutError, error_from_response, retry_after_seconds

__all__ = ["AsyncRecommendationClient"]


class AsyncRecommendationClient(BaseClient, AsyncEndpoints):
    """An asyncio client of the recommendation-engine API.

    ``base_url``: the service (``http://localhost:8080``); ``api_key``: sent as
    ``X-API-Key``; ``tenant_id``: sent as ``X-Tenant-ID`` on every call (each method's
    ``tenant_id=`` overrides it); ``timeout``: seconds, or an ``httpx.Timeout``;
    ``max_retries``: retries of a failed idempotent request (connection error,
    timeout, 429, 502, 503, 504), waiting ``backoff_factor`` × 2^(n−1) seconds (jittered,
    at most ``max_backoff``), or the server's ``Retry-After``; ``bulk_chunk_size``: rows
    per request of ``import_entities``/``import_interactions``; ``http_client``: an
    ``httpx.AsyncClient`` of your own (its base URL, headers and timeout are left alone).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: Optional[str] = None,
        *,
        tenant_id: Optional[str] = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_factor: float = 0.5,
        max_backoff: float = 30.0,
        bulk_chunk_size: int = DEFAULT_CHUNK_SIZE,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        BaseClient.__init__(
            self, base_url, api_key, tenant_id=tenant_id, timeout=timeout, max_retries=max_retries,
            backoff_factor=backoff_factor, max_backoff=max_backoff, bulk_chunk_size=bulk_chunk_size,
            headers=headers,
        )
        self._own_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            base_url=self.base_url, headers=self._default_headers, timeout=timeout
        )

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncRecommendationClient:
        return self

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.aclose()

    async def _send(self, call: Call[Any], stream: bool = False) -> httpx.Response:
        """Send ``call``, retrying as the policy allows; a 2xx answer or an exception."""
        attempt = 0
        while True:
            retry_after: Optional[float] = None
            try:
                response = await self._http.send(self._build_request(self._http, call), stream=stream)
            except httpx.TimeoutException as exc:
                error: Exception = APITimeoutError(f"request timed out: {exc}", code="timeout")
                cause: Optional[Exception] = exc
            except httpx.TransportError as exc:
                error, cause = APIConnectionError(f"connection failed: {exc}", code="connection_error"), exc
            else:
                if response.is_success:
                    return response
                await response.aread()
                await response.aclose()
                error, cause = error_from_response(response), None
                if response.status_code not in RETRY_STATUSES:
                    raise error
                retry_after = retry_after_seconds(response)
            if not call.idempotent or attempt >= self.max_retries:
                raise error from cause
            attempt += 1
            await asyncio.sleep(self._delay(attempt, retry_after))

    async def _run(self, call: Call[Any]) -> Any:
        response = await self._send(call)
        return call.parse(response.json() if response.content else None)

    async def _lines(self, call: Call[Any]) -> AsyncIterator[str]:
        response = await self._send(call, stream=True)
        try:
            async for line in response.aiter_lines():
                if line.strip():
                    yield line
        finally:
            await response.aclose()
