"""/api/v1/tenant: the caller's own tenant and the settings its requests are answered with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from recommendation_engine.api.deps import ServicesDep, TenantDep
from recommendation_engine.api.responses import FastJSONResponse
from recommendation_engine.api.routes.admin import TenantConfigOut
from recommendation_engine.api.schemas import ERRORS

router = APIRouter(prefix="/api/v1/tenant", tags=["tenant"], responses=ERRORS)


class OwnTenantOut(BaseModel):
    tenant_id: str
    registered: bool
    name: str | None
    config: dict[str, Any]
    effective_config: TenantConfigOut
    interaction_type_weights: dict[str, float]
    created_at: datetime | None
    updated_at: datetime | None


@router.get(
    "",
    response_model=OwnTenantOut,
    summary="The caller's tenant: its own settings and the effective ones",
)
async def own_tenant(services: ServicesDep, tenant: TenantDep) -> Response:
    return FastJSONResponse(await services.tenants.own(tenant))
