"""Response models: they document the API (OpenAPI) and describe what handlers return."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from recommendation_engine.models import InteractionType, TenantScoped


class ErrorDetail(BaseModel):
    code: str = Field(examples=["not_found"])
    status: int = Field(examples=[404], description="The HTTP status, repeated")
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class EntityOut(BaseModel):
    entity_id: str
    entity_type: str
    tenant_id: str
    attributes: dict[str, Any]
    feature_vector: list[float]
    created_at: datetime
    updated_at: datetime


class InteractionOut(BaseModel):
    id: int
    user_id: str
    entity_id: str
    entity_type: str
    interaction_type: str
    weight: float = Field(description="Effective weight: explicit, or the type's weight x value")
    value: float | None
    metadata: dict[str, Any]
    event_id: str | None
    timestamp: datetime
    tenant_id: str


class InteractionTypeOut(BaseModel):
    interaction_type: str
    default_weight: float
    built_in: bool
    description: str | None = None


class RowErrorOut(BaseModel):
    index: int = Field(description="Position of the row in the request")
    reason: str = Field(
        examples=["invalid", "unknown_entity", "unknown_interaction_type", "tenant_mismatch"]
    )
    details: Any = None
    error: str = Field(description="Why the row failed, in one line")
    entity_id: str | None = Field(default=None, description="The row's entity_id, as sent")
    user_id: str | None = Field(
        default=None, description="The row's user_id, as sent (interaction rows)"
    )


class BulkResultOut(BaseModel):
    received: int
    created: int
    updated: int
    skipped: int = Field(description="Rows not written again: repeated keys or event ids")
    failed: int
    errors: list[RowErrorOut]
    job_id: str = Field(description="A new id for this request's import, which ran to its end")
    status: Literal["completed", "partial", "failed"] = Field(
        description="completed: no row failed; partial: some did; failed: every row did"
    )
    total_records: int = Field(description="The same as received")
    processed: int = Field(description="Rows looked at: all of them")
    successful: int = Field(description="Rows stored or already stored: received - failed")


class BulkEntitiesIn(TenantScoped):
    entities: list[dict[str, Any]] = Field(description="Entity objects as for POST /entities")


class BulkInteractionsIn(TenantScoped):
    interactions: list[dict[str, Any]] = Field(
        description="Interaction objects as for POST /interactions"
    )


def interaction_type_out(kind: InteractionType) -> dict[str, Any]:
    return {
        "interaction_type": kind.interaction_type,
        "default_weight": kind.default_weight,
        "built_in": kind.built_in,
        "description": kind.description,
    }


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}

# What any route may answer besides its own success (the README's table of errors).
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "Malformed request: a body that is not JSON, a malformed header, or a parameter "
        "beyond what the tenant's settings allow",
        401: "Missing or invalid API key",
        403: "The API key may not do this (another tenant's data, or an administrator route)",
        404: "Not found",
        409: "Conflict",
        413: "Request body too large",
        422: "Invalid input",
        500: "A fault of the service (logged)",
    }.items()
} | {
    429: {
        "model": ErrorResponse,
        "description": "Too many requests (rate limiting is on)",
        "headers": _RETRY_AFTER,
    },
    503: {
        "model": ErrorResponse,
        "description": "The database cannot be reached at the moment",
        "headers": _RETRY_AFTER,
    },
}
