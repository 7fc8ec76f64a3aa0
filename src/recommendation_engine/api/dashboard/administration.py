"""Tenants and API keys: administrators only."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response
from pydantic import ValidationError

from recommendation_engine.api.dashboard.access import (
    PREFIX,
    AdminDep,
    DashboardRoute,
    FormDep,
    PageError,
    dashboard_of,
    redirect,
)
from recommendation_engine.api.dashboard.configuration import _first_problem
from recommendation_engine.api.dashboard.rendering import render
from recommendation_engine.models import ApiKeyInput, TenantInput, is_valid_name

router = APIRouter(route_class=DashboardRoute, include_in_schema=False, prefix=PREFIX + "/admin")

CONFIG_FIELDS = (
    "collaborative_weight",
    "content_based_weight",
    "similarity_threshold",
    "default_recommendation_count",
    "max_recommendation_count",
)


def _admin_page(request: Request, viewer: AdminDep) -> None:
    settings = dashboard_of(request).settings
    request.state.page.update(multi_tenancy=settings.tenancy.enable_multi_tenancy)


@router.get("/tenants")
async def tenants(request: Request, viewer: AdminDep) -> Response:
    _admin_page(request, viewer)
    registered = await dashboard_of(request).services.tenants.list_all()
    return render(
        request,
        "admin_tenants.html",
        {"section": "admin_tenants", "registered": registered, "fields": CONFIG_FIELDS},
    )


def _tenant_input(form: dict[str, str]) -> TenantInput:
    config: dict[str, Any] = {}
    for name in CONFIG_FIELDS:
        text = form.get(name, "").strip()
        if text:
            try:
                config[name] = int(text) if name.endswith("_count") else float(text)
            except ValueError:
                raise PageError(422, f"{name}: a number, or empty to follow the service") from None
    try:
        return TenantInput(name=form.get("name", "").strip() or None, config=config)
    except ValidationError as error:
        raise PageError(422, _first_problem(error)) from None


@router.post("/tenants")
async def save_tenant(request: Request, viewer: AdminDep, form: FormDep) -> Response:
    tenant_id = form.get("tenant_id", "").strip()
    if not is_valid_name(tenant_id):
        raise PageError(422, "A tenant id is 1-64 characters from A-Z a-z 0-9 and _ . : -")
    await dashboard_of(request).services.tenants.put(tenant_id, _tenant_input(form))
    return redirect(f"{PREFIX}/admin/tenants/{tenant_id}")


@router.get("/tenants/{tenant_id}")
async def tenant(request: Request, viewer: AdminDep, tenant_id: Annotated[str, Path()]) -> Response:
    if not is_valid_name(tenant_id):
        raise PageError(404, "There is no such tenant.")
    _admin_page(request, viewer)
    services = dashboard_of(request).services
    found = await services.tenants.get(tenant_id)
    keys = await services.tenants.list_keys(tenant_id)
    return render(
        request,
        "admin_tenant.html",
        {"section": "admin_tenants", "found": found, "keys": keys, "fields": CONFIG_FIELDS},
    )


@router.get("/keys")
async def keys(request: Request, viewer: AdminDep) -> Response:
    _admin_page(request, viewer)
    return await _keys_page(request)


async def _keys_page(request: Request, created: dict[str, Any] | None = None) -> Response:
    services = dashboard_of(request).services
    listed = await services.tenants.list_keys(None)
    return render(
        request,
        "admin_keys.html",
        {"section": "admin_keys", "keys": listed, "created": created},
        status_code=201 if created else 200,
    )


@router.post("/keys")
async def create_key(request: Request, viewer: AdminDep, form: FormDep) -> Response:
    _admin_page(request, viewer)
    try:
        data = ApiKeyInput(
            name=form.get("name", "").strip() or None,
            tenant_id=form.get("tenant_id", "").strip() or None,
        )
    except ValidationError as error:
        raise PageError(422, _first_problem(error)) from None
    created = await dashboard_of(request).services.tenants.create_key(data.name, data.tenant_id)
    # The key is shown once, in this answer, never in a URL.
    return await _keys_page(request, created)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(
    request: Request, viewer: AdminDep, form: FormDep, key_id: Annotated[str, Path()]
) -> Response:
    try:
        UUID(key_id)
    except ValueError:
        raise PageError(404, "There is no such API key.") from None
    await dashboard_of(request).services.tenants.delete_key(key_id)
    return redirect(f"{PREFIX}/admin/keys")
