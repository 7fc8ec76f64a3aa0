"""Exceptions raised by the client, built from the service's error body."""

from __future__ import annotations

from typing import Any, Dict, Optional, Type

import httpx

__all__ = [
    "RecommendationError",
    "APIConnectionError",
    "APITimeoutError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "PayloadTooLargeError",
    "ValidationError",
    "RateLimitError",
    "ServerError",
    "ServiceUnavailableError",
    "WebhookVerificationError",
]


class RecommendationError(Exception):
    """Base of every error this client raises.

    ``code``, ``message`` and ``details`` come from the service's
    ``{"error": {"code", "message", "details"}}`` body; ``status`` is the HTTP status
    (``None`` when no answer came), ``request_id`` the answer's ``X-Request-ID``.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        details: Any = None,
        status: Optional[int] = None,
        request_id: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"(status {self.status}, code {self.code!r}")
            parts[-1] += f", request {self.request_id})" if self.request_id else ")"
        if self.details:
            parts.append(f"details: {self.details}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"status={self.status!r}, request_id={self.request_id!r})"
        )


class APIConnectionError(RecommendationError):
    """The service could not be reached (refused, reset, DNS, protocol error)."""


class APITimeoutError(APIConnectionError):
    """The service did not answer within the timeout."""


class BadRequestError(RecommendationError):
    """400: a malformed request (header, count above the maximum, ...)."""


class AuthenticationError(RecommendationError):
    """401: missing or wrong API key."""


class PermissionDeniedError(RecommendationError):
    """403: the key may not do this (another tenant, an administration route)."""


class NotFoundError(RecommendationError):
    """404: the entity, interaction type, webhook, tenant or route does not exist."""


class ConflictError(RecommendationError):
    """409: exists already, ambiguous entity type, or still in use."""


class PayloadTooLargeError(RecommendationError):
    """413: the body or bulk request is over the service's limit."""


class ValidationError(RecommendationError):
    """422: the body or a parameter is invalid; ``details`` lists each field."""


class RateLimitError(RecommendationError):
    """429: over the rate limit; ``retry_after`` is the seconds to wait, if given."""

    def __init__(self, message: str, *, retry_after: Optional[float] = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(RecommendationError):
    """5xx: a fault of the service."""


class ServiceUnavailableError(ServerError):
    """503: the service or its database is unavailable for now."""

    def __init__(self, message: str, *, retry_after: Optional[float] = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class WebhookVerificationError(RecommendationError):
    """A webhook request whose signature or timestamp does not check out."""


_BY_STATUS: Dict[int, Type[RecommendationError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: ValidationError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def retry_after_seconds(response: httpx.Response) -> Optional[float]:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_from_response(response: httpx.Response) -> RecommendationError:
    """The exception for a non-2xx answer (its body must have been read)."""
    status = response.status_code
    code, message, details = "http_error", f"HTTP {status}", None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = str(err.get("code", code))
        message = str(err.get("message", message))
        details = err.get("details")
    elif response.text:
        message = response.text[:500]
    kwargs: Dict[str, Any] = dict(
        code=code, details=details, status=status, request_id=response.headers.get("X-Request-ID")
    )
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else RecommendationError
    if cls in (RateLimitError, ServiceUnavailableError):
        kwargs["retry_after"] = retry_after_seconds(response)
    return cls(message, **kwargs)
