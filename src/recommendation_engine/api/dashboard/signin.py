"""Signing in with an API key, and out."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response

from recommendation_engine.api.dashboard.access import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    DashboardRoute,
    FormDep,
    SignInRequired,
    dashboard_of,
    read_form,
    redirect,
)
from recommendation_engine.api.dashboard.rendering import render

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

LOGIN_FORM_SECONDS = 3600


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard page of this service, nothing else."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return PREFIX + "/"


def _sign_in_page(
    request: Request, target: str, error: str | None = None, status_code: int = 200
) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        {"next": target, "login_token": token, "error": error},
        status_code=status_code,
    )
    # A login form carries a token that must match this cookie (double submit): another
    # site cannot sign a browser in with a key of its choosing.
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_FORM_SECONDS,
        path=PREFIX + "/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


@router.get(PREFIX + "/login")
async def sign_in_form(request: Request, next: Annotated[str | None, Query()] = None) -> Response:
    return _sign_in_page(request, _safe_next(next))


@router.post(PREFIX + "/login")
async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    target = _safe_next(form.get("next"))
    expected = request.cookies.get(LOGIN_COOKIE, "")
    sent = form.get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _sign_in_page(
            request, target, "The sign-in form expired. Please try again.", status_code=403
        )
    signed_in = await dashboard_of(request).sessions.sign_in(form.get("api_key", "").strip())
    if signed_in is None:
        return _sign_in_page(request, target, "That API key is not valid.", status_code=401)
    token, _ = signed_in
    response = redirect(target)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(dashboard_of(request).sessions.lifetime.total_seconds()),
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX + "/login")
    return response


@router.post(PREFIX + "/logout")
async def sign_out(request: Request, form: FormDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await dashboard_of(request).sessions.sign_out(token)
    response = redirect(PREFIX + "/login")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


@router.get(PREFIX)
@router.get(PREFIX + "/")
async def home(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    session = await dashboard_of(request).sessions.resolve(token) if token else None
    if session is None:
        raise SignInRequired
    settings = dashboard_of(request).settings
    tenant = session.principal.tenant_id or settings.tenancy.default_tenant_id
    return redirect(f"{PREFIX}/t/{quote(tenant, safe='')}/")


@router.get(PREFIX + "/switch")
async def switch_tenant(request: Request, tenant: Annotated[str, Query()] = "") -> Response:
    """The tenant picker's target: that tenant's overview (whose page checks access)."""
    return redirect(f"{PREFIX}/t/{quote(tenant, safe='')}/")
