"""JSON responses, rendered with orjson (numpy arrays and datetimes included)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from recommendation_engine.serialization import dumps

__all__ = ["FastJSONResponse", "dumps", "error_body", "error_response"]


class FastJSONResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


def error_body(status: int, code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape: ``code`` names the error, ``status`` repeats the HTTP status
    (clients of the original service read a number there)."""
    return {"error": {"code": code, "status": status, "message": message, "details": details}}


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> FastJSONResponse:
    return FastJSONResponse(
        error_body(status_code, code, message, details), status_code=status_code, headers=headers
    )
