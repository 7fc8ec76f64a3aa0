"""/api/v1/admin: tenants, their configuration and API keys. Administrator keys only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from recommendation_engine.api.deps import ServicesDep, require_admin
from recommendation_engine.api.responses import FastJSONResponse
from recommendation_engine.api.schemas import ERRORS
from recommendation_engine.models import NAME_PATTERN, ApiKeyInput, TenantInput

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["administration"],
    responses=ERRORS,
    dependencies=[Depends(require_admin)],
)

TenantPath = Annotated[str, Path(pattern=NAME_PATTERN, description="Tenant id")]


class TenantConfigOut(BaseModel):
    collaborative_weight: float
    content_based_weight: float
    similarity_threshold: float
    default_recommendation_count: int
    max_recommendation_count: int
    auto_tuning: bool = Field(description="Whether full rebuilds tune the model")
    model_settings: dict[str, float] = Field(
        description="Sequential model settings the tuning keeps as given"
    )
    weights_pinned: bool = Field(
        description="The hybrid weights were set (by the tenant or the environment): a "
        "request without weights uses them instead of the model's tuned blend"
    )


class TenantOut(BaseModel):
    tenant_id: str
    name: str | None
    config: dict[str, Any]
    effective_config: TenantConfigOut
    interaction_type_weights: dict[str, float]
    created_at: datetime
    updated_at: datetime


class ApiKeyOut(BaseModel):
    id: str
    name: str | None
    tenant_id: str | None
    role: str
    prefix: str
    created_at: datetime


class NewApiKeyOut(ApiKeyOut):
    key: str


@router.get("/tenants", response_model=list[TenantOut], summary="List registered tenants")
async def list_tenants(services: ServicesDep) -> Response:
    return FastJSONResponse(await services.tenants.list_all())


@router.get("/tenants/{tenant_id}", response_model=TenantOut, summary="A tenant and its settings")
async def get_tenant(tenant_id: TenantPath, services: ServicesDep) -> Response:
    return FastJSONResponse(await services.tenants.get(tenant_id))


@router.put(
    "/tenants/{tenant_id}",
    response_model=TenantOut,
    summary="Register a tenant or replace its name and configuration",
    responses={201: {"model": TenantOut, "description": "Registered"}},
)
async def put_tenant(tenant_id: TenantPath, body: TenantInput, services: ServicesDep) -> Response:
    tenant, created = await services.tenants.put(tenant_id, body)
    return FastJSONResponse(tenant, status_code=201 if created else 200)


@router.delete(
    "/tenants/{tenant_id}",
    status_code=204,
    summary="Delete a tenant with all of its data, keys and webhooks",
)
async def delete_tenant(tenant_id: TenantPath, services: ServicesDep) -> Response:
    await services.tenants.delete(tenant_id)
    return Response(status_code=204)


@router.post(
    "/api-keys",
    status_code=201,
    response_model=NewApiKeyOut,
    summary="Create an API key; the key is in this response only",
)
async def create_key(body: ApiKeyInput, services: ServicesDep) -> Response:
    created = await services.tenants.create_key(body.name, body.tenant_id)
    return FastJSONResponse(created, status_code=201)


@router.get("/api-keys", response_model=list[ApiKeyOut], summary="List API keys (never the keys)")
async def list_keys(
    services: ServicesDep,
    tenant_id: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
) -> Response:
    return FastJSONResponse(await services.tenants.list_keys(tenant_id))


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke an API key")
async def delete_key(key_id: UUID, services: ServicesDep) -> Response:
    await services.tenants.delete_key(str(key_id))
    return Response(status_code=204)
