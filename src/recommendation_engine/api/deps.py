"""Request dependencies: the services, the caller's tenant and authentication."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from recommendation_engine.config import Settings
from recommendation_engine.errors import BadRequest, Unauthorized
from recommendation_engine.models import NAME_RULE, is_valid_name
from recommendation_engine.service.container import Services


async def get_services(request: Request) -> Services:
    return request.app.state.services


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_tenant(request: Request) -> str:
    settings: Settings = request.app.state.settings
    tenant = settings.tenancy.default_tenant_id
    if settings.tenancy.enable_multi_tenancy:
        tenant = request.headers.get("x-tenant-id", tenant)
        if not is_valid_name(tenant):
            raise BadRequest(f"X-Tenant-ID must be {NAME_RULE}", {"header": "X-Tenant-ID"})
    request.state.tenant = tenant  # for the request log
    return tenant


_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey")
_bearer = HTTPBearer(auto_error=False, scheme_name="Bearer")


async def require_api_key(
    request: Request,
    api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    settings: Settings = request.app.state.settings
    if not settings.auth.require_api_key:
        return
    expected = settings.auth.api_key.get_secret_value().encode() if settings.auth.api_key else b""
    presented = api_key if api_key is not None else (bearer.credentials if bearer else None)
    if presented is None:
        raise Unauthorized("missing API key: send it in the X-API-Key header")
    if not expected or not hmac.compare_digest(presented.encode(), expected):
        raise Unauthorized("invalid API key")


ServicesDep = Annotated[Services, Depends(get_services)]
TenantDep = Annotated[str, Depends(get_tenant)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
