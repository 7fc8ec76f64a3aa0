"""Who may see a dashboard page: the session cookie, the tenant a page belongs to, the
administration pages, and the CSRF check of every form that changes something."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from recommendation_engine.api.dashboard.rendering import error_page
from recommendation_engine.errors import AppError
from recommendation_engine.models import is_valid_name
from recommendation_engine.service.dashboard import DashboardService
from recommendation_engine.service.dashboard_sessions import DashboardSession
from recommendation_engine.storage import dashboard as repo

PREFIX = "/dashboard"
SESSION_COOKIE = "dashboard_session"
LOGIN_COOKIE = "dashboard_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    422: "Invalid input",
    503: "Unavailable",
}


class SignInRequired(Exception):
    """No valid session: the browser is sent to the sign-in page."""


class PageError(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def redirect(url: str) -> RedirectResponse:
    """After a form: the browser GETs ``url`` (303 See Other)."""
    return RedirectResponse(url, status_code=303)


def _to_sign_in(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET" or request.headers.get("hx-request"):
        target = PREFIX + "/"
    url = f"{PREFIX}/login?next={quote(target, safe='')}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


class DashboardRoute(APIRoute):
    """Errors of a dashboard page leave as HTML pages (or a trip to the sign-in page),
    never as the API's JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return _to_sign_in(request)
            except PageError as error:
                title = _TITLES.get(error.status_code, "Error")
                return error_page(request, error.status_code, title, error.message)
            except AppError as error:
                title = _TITLES.get(error.status_code, "Error")
                return error_page(request, error.status_code, title, error.message)
            except RequestValidationError as error:
                fields = ", ".join(".".join(map(str, e["loc"][1:])) for e in error.errors())
                return error_page(request, 422, "Invalid input", f"Check these fields: {fields}")

        return handle


def dashboard_of(request: Request) -> DashboardService:
    return request.app.state.dashboard


@dataclass(frozen=True, slots=True)
class Viewer:
    session: DashboardSession
    token: str

    @property
    def admin(self) -> bool:
        return self.session.principal.admin

    @property
    def tenant_id(self) -> str | None:
        return self.session.principal.tenant_id


async def current_viewer(request: Request) -> Viewer:
    token = request.cookies.get(SESSION_COOKIE)
    session = await dashboard_of(request).sessions.resolve(token) if token else None
    if token is None or session is None:
        raise SignInRequired
    viewer = Viewer(session, token)
    own = viewer.tenant_id or dashboard_of(request).settings.tenancy.default_tenant_id
    request.state.page = {
        "viewer": viewer,
        "csrf_token": session.csrf_token,
        "tenant": own,
        "base": f"{PREFIX}/t/{quote(own, safe='')}",
        "tenants": [],
    }
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


@dataclass(frozen=True, slots=True)
class TenantPage:
    """A page of one tenant, as a viewer allowed to see it."""

    viewer: Viewer
    tenant_id: str
    dashboard: DashboardService

    @property
    def base(self) -> str:
        return f"{PREFIX}/t/{quote(self.tenant_id, safe='')}"


async def tenant_page(
    request: Request, viewer: ViewerDep, tenant: Annotated[str, Path()]
) -> TenantPage:
    dashboard = dashboard_of(request)
    tenancy = dashboard.settings.tenancy
    if not is_valid_name(tenant):
        raise PageError(404, "There is no such tenant.")
    if not tenancy.enable_multi_tenancy and tenant != tenancy.default_tenant_id:
        raise PageError(
            404, f"Multi-tenancy is off: the only tenant is '{tenancy.default_tenant_id}'."
        )
    if viewer.tenant_id is not None and viewer.tenant_id != tenant:
        raise PageError(403, "This key belongs to another tenant; it sees its own tenant only.")
    request.state.tenant = tenant  # for the request log
    page = TenantPage(viewer, tenant, dashboard)
    tenants = [tenant]
    if viewer.admin and tenancy.enable_multi_tenancy:
        tenants = await _tenant_ids(dashboard, tenant)
    request.state.page.update(tenant=tenant, base=page.base, tenants=tenants)
    return page


async def _tenant_ids(dashboard: DashboardService, current: str) -> list[str]:
    async with dashboard.services.pool.acquire() as conn:
        registered = await repo.registered_tenants(conn)
    return sorted({current, dashboard.settings.tenancy.default_tenant_id, *registered})


TenantDep = Annotated[TenantPage, Depends(tenant_page)]


async def admin_viewer(viewer: ViewerDep) -> Viewer:
    if not viewer.admin:
        raise PageError(403, "The administration pages need an administrator key.")
    return viewer


AdminDep = Annotated[Viewer, Depends(admin_viewer)]


async def read_form(request: Request) -> dict[str, str]:
    """A URL-encoded form body (the dashboard's forms send nothing else)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _same_origin(request: Request) -> bool:
    """False when the browser names another site as the form's origin. ("null" is what
    it sends from the service's own pages too, whose Referrer-Policy is no-referrer.)"""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc == request.headers.get("host")


async def checked_form(request: Request, viewer: ViewerDep) -> dict[str, str]:
    """The form of a request that changes something, once its CSRF token (a form field
    or the X-CSRF-Token header htmx sends) matches the session's, and it comes from a
    page of this service."""
    form = await read_form(request)
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = viewer.session.csrf_token
    if not _same_origin(request) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PageError(403, "The form has expired or did not come from this dashboard.")
    return form


FormDep = Annotated[dict[str, str], Depends(checked_form)]
