"""Request dependencies: the services, the caller's tenant and authentication."""

from __future__ import annotations

from typing import Annotated, Any

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


# The credentials and the tenant are read from the request by `require_api_key` and
# `get_tenant` themselves, not through security schemes and parameters of their own:
# FastAPI would solve each of those as one more dependency on every request (together
# some three fifths of its dependency work on the recommendation routes).
# `api.openapi_document` writes them into the OpenAPI document instead.
API_KEY_SCHEME = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey")
BEARER_SCHEME = HTTPBearer(auto_error=False, scheme_name="Bearer")


async def require_api_key(request: Request) -> Principal:
    """Who is calling: API_KEY and administrator keys act for any tenant, a tenant's key
    for its own tenant only. Without REQUIRE_API_KEY a request without a key is an
    administrator's. Kept on the request for `caller`."""
    principal = await _authenticate(
        request, await API_KEY_SCHEME(request), await BEARER_SCHEME(request)
    )
    request.state.principal = principal
    return principal


async def caller(request: Request) -> Principal:
    """The request's authenticated caller: `require_api_key`'s answer when it has run
    for this request (every secured route runs it first), else authenticated now."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        principal = await require_api_key(request)
    return principal


async def _authenticate(
    request: Request, api_key: str | None, bearer: HTTPAuthorizationCredentials | None
) -> Principal:
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


_TENANT_SOURCES = (("header", "X-Tenant-ID"), ("query", "tenant_id"), ("body", "tenant_id"))


async def _body_tenant(request: Request) -> Any:
    """``tenant_id`` at the top of a JSON body (already parsed and cached by then)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    try:
        body = await request.json()
    except ValueError:  # not JSON: the body's own validation answers for it
        return None
    return body.get("tenant_id") if isinstance(body, dict) else None


async def get_tenant(request: Request) -> str:
    """The request's tenant. It may be named in the X-Tenant-ID header, a ``tenant_id``
    query parameter or a top-level ``tenant_id`` in the body, all under the same rules:
    where several name it they must agree; without multi-tenancy only the default tenant
    may be named; a tenant's key may name only its own tenant (403). The caller is
    `require_api_key`'s, already found (a dependency of its own here would have FastAPI
    solve the authentication's dependencies a second time on every request)."""
    principal = await caller(request)
    settings: Settings = request.app.state.settings
    tenancy = settings.tenancy
    named: dict[str, str] = {}
    for (where, name), value in zip(
        _TENANT_SOURCES,
        (
            request.headers.get("X-Tenant-ID"),
            request.query_params.get("tenant_id"),
            await _body_tenant(request),
        ),
        strict=True,
    ):
        if value is None:
            continue
        if not isinstance(value, str) or not is_valid_name(value):
            raise BadRequest(f"{name} must be {NAME_RULE}", {where: name})
        named[where] = value
    if len(set(named.values())) > 1:
        raise BadRequest("the request names different tenants", named)
    asked = next(iter(named.values()), None)
    where = next(iter(named), "header")
    if not tenancy.enable_multi_tenancy and asked not in (None, tenancy.default_tenant_id):
        raise BadRequest(
            f"multi-tenancy is disabled: the only tenant is '{tenancy.default_tenant_id}'",
            {where: _TENANT_FIELD[where], "tenant_id": asked},
        )
    if principal.tenant_id is None:
        tenant = asked or tenancy.default_tenant_id
    else:
        tenant = principal.tenant_id
        if asked is not None and asked != tenant:
            raise Forbidden(
                f"this API key belongs to another tenant than the {_TENANT_FIELD[where]} names",
                {where: _TENANT_FIELD[where]},
            )
        if not tenancy.enable_multi_tenancy and tenant != tenancy.default_tenant_id:
            raise Forbidden("this API key belongs to a tenant, and multi-tenancy is disabled")
    request.state.tenant = tenant  # for the request log
    return tenant


_TENANT_FIELD = dict(_TENANT_SOURCES)


ServicesDep = Annotated[Services, Depends(get_services)]
TenantDep = Annotated[str, Depends(get_tenant)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
