"""Request dependencies: the services, the caller's tenant and authentication."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from recommendation_engine.config import Settings
from recommendation_engine.errors import BadRequest, Forbidden, Unauthorized
from recommendation_engine.models import NAME_RULE, is_valid_name
from recommendation_engine.service.container import Services
from recommendation_engine.service.tenants import ADMIN, Principal


async def get_services(request: Request) -> Services:
    return request.app.state.services


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey")
_bearer = HTTPBearer(auto_error=False, scheme_name="Bearer")


async def require_api_key(
    request: Request,
    api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Who is calling: API_KEY and administrator keys act for any tenant, a tenant's key
    for its own tenant only. Without REQUIRE_API_KEY a request without a key is an
    administrator's."""
    settings: Settings = request.app.state.settings
    presented = api_key if api_key is not None else (bearer.credentials if bearer else None)
    if presented is None:
        if settings.auth.require_api_key:
            raise Unauthorized("missing API key: send it in the X-API-Key header")
        return ADMIN
    services: Services = request.app.state.services
    principal = await services.tenants.authenticate(presented)
    if principal is None:
        if settings.auth.require_api_key:
            raise Unauthorized("invalid API key")
        return ADMIN
    return principal


async def require_admin(principal: Annotated[Principal, Depends(require_api_key)]) -> None:
    if not principal.admin:
        raise Forbidden("this route needs an administrator key; a tenant's key cannot use it")


async def get_tenant(
    request: Request, principal: Annotated[Principal, Depends(require_api_key)]
) -> str:
    settings: Settings = request.app.state.settings
    tenancy = settings.tenancy
    asked = request.headers.get("x-tenant-id") if tenancy.enable_multi_tenancy else None
    if asked is not None and not is_valid_name(asked):
        raise BadRequest(f"X-Tenant-ID must be {NAME_RULE}", {"header": "X-Tenant-ID"})
    if principal.tenant_id is None:
        tenant = asked or tenancy.default_tenant_id
    else:
        tenant = principal.tenant_id
        if asked is not None and asked != tenant:
            raise Forbidden(
                "this API key belongs to another tenant than X-Tenant-ID names",
                {"header": "X-Tenant-ID"},
            )
        if not tenancy.enable_multi_tenancy and tenant != tenancy.default_tenant_id:
            raise Forbidden("this API key belongs to a tenant, and multi-tenancy is disabled")
    request.state.tenant = tenant  # for the request log
    return tenant


ServicesDep = Annotated[Services, Depends(get_services)]
TenantDep = Annotated[str, Depends(get_tenant)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
