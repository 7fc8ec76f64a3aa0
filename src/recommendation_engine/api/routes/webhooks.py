"""/api/v1/webhooks: a tenant's subscriptions to events, and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from recommendation_engine.api.deps import ServicesDep, TenantDep
from recommendation_engine.api.responses import FastJSONResponse
from recommendation_engine.api.schemas import ERRORS
from recommendation_engine.models import WebhookInput

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=ERRORS)


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    active: bool
    description: str | None
    created_at: datetime
    updated_at: datetime


class NewWebhookOut(WebhookOut):
    secret: str


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    event: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    response_status: int | None
    error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None


@router.post(
    "",
    status_code=201,
    response_model=NewWebhookOut,
    summary="Subscribe a URL to events; the signing secret is in this response",
)
async def create_webhook(body: WebhookInput, services: ServicesDep, tenant: TenantDep) -> Response:
    return FastJSONResponse(await services.webhooks.create(tenant, body), status_code=201)


@router.get("", response_model=list[WebhookOut], summary="List the tenant's webhooks")
async def list_webhooks(services: ServicesDep, tenant: TenantDep) -> Response:
    return FastJSONResponse(await services.webhooks.list_all(tenant))


@router.get("/{webhook_id}", response_model=WebhookOut, summary="Get a webhook")
async def get_webhook(webhook_id: UUID, services: ServicesDep, tenant: TenantDep) -> Response:
    return FastJSONResponse(await services.webhooks.get(tenant, str(webhook_id)))


@router.put(
    "/{webhook_id}",
    response_model=WebhookOut,
    summary="Replace a webhook's URL, events, state and description (and secret, if given)",
)
async def update_webhook(
    webhook_id: UUID, body: WebhookInput, services: ServicesDep, tenant: TenantDep
) -> Response:
    return FastJSONResponse(await services.webhooks.update(tenant, str(webhook_id), body))


@router.delete("/{webhook_id}", status_code=204, summary="Delete a webhook and its deliveries")
async def delete_webhook(webhook_id: UUID, services: ServicesDep, tenant: TenantDep) -> Response:
    await services.webhooks.delete(tenant, str(webhook_id))
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=list[DeliveryOut],
    summary="The webhook's deliveries, newest first",
)
async def list_deliveries(
    webhook_id: UUID,
    services: ServicesDep,
    tenant: TenantDep,
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    deliveries = await services.webhooks.deliveries(tenant, str(webhook_id), status, limit, offset)
    return FastJSONResponse(deliveries)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    status_code=202,
    response_model=DeliveryOut,
    summary="Deliver an event again (a failed one, say), with a fresh set of attempts",
)
async def retry_delivery(
    webhook_id: UUID,
    delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    services: ServicesDep,
    tenant: TenantDep,
) -> Response:
    delivery = await services.webhooks.redeliver(tenant, str(webhook_id), delivery_id)
    return FastJSONResponse(delivery, status_code=202)
