"""A tenant's data: the overview, entities, users (with the what-if control) and
trending entities."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import ValidationError

from recommendation_engine.api.dashboard.access import (
    PREFIX,
    DashboardRoute,
    FormDep,
    PageError,
    TenantDep,
    redirect,
)
from recommendation_engine.api.dashboard.rendering import render
from recommendation_engine.errors import AppError
from recommendation_engine.models import ID_MAX_LENGTH, is_valid_id, is_valid_name
from recommendation_engine.service.dashboard import ALGORITHMS
from recommendation_engine.service.trending import STORED_WINDOWS

router = APIRouter(route_class=DashboardRoute, include_in_schema=False, prefix=PREFIX + "/t")

Text = Annotated[str | None, Query(max_length=ID_MAX_LENGTH)]


def _optional(value: str | None) -> str | None:
    return value.strip() or None if value else None


@router.get("/{tenant}/")
async def overview(request: Request, page: TenantDep) -> Response:
    data = await page.dashboard.overview(page.tenant_id)
    start: datetime = data["per_minute"]["start"]
    counts: list[int] = data["per_minute"]["counts"]
    labels = [(start + timedelta(minutes=m)).strftime("%H:%M") for m in range(len(counts))]
    hours = [
        ((start + timedelta(hours=h)).strftime("%Y-%m-%d %H:00"), sum(counts[h * 60 : h * 60 + 60]))
        for h in range(len(counts) // 60)
    ]
    activity = {
        "type": "bar",
        "labels": labels,
        "datasets": [{"label": "Interactions per minute", "data": counts}],
        "yTitle": "interactions / minute",
        "xTicks": 12,
    }
    return render(
        request,
        "overview.html",
        {"section": "overview", "activity": activity, "hours": hours, **data},
    )


@router.get("/{tenant}/overview/counts")
async def overview_counts(request: Request, page: TenantDep) -> Response:
    counts = await page.dashboard.user_and_interaction_counts(page.tenant_id)
    return render(request, "overview_counts.html", counts)


@router.get("/{tenant}")
async def overview_without_slash(page: TenantDep) -> Response:
    return redirect(page.base + "/")


@router.get("/{tenant}/entities")
async def entities(
    request: Request,
    page: TenantDep,
    id: Text = None,
    type: Text = None,
    attribute: Text = None,
    value: Text = None,
) -> Response:
    query = {
        "id": _optional(id),
        "type": _optional(type),
        "attribute": _optional(attribute),
        "value": _optional(value),
    }
    types = await page.dashboard.entity_types(page.tenant_id)
    found = await page.dashboard.search_entities(
        page.tenant_id, query["id"], query["type"], query["attribute"], query["value"]
    )
    return render(
        request,
        "entities.html",
        {"section": "entities", "query": query, "types": types, "found": found},
    )


@router.get("/{tenant}/entities/{entity_type}/{entity_id}")
async def entity(
    request: Request,
    page: TenantDep,
    entity_type: Annotated[str, Path()],
    entity_id: Annotated[str, Path()],
) -> Response:
    if not is_valid_name(entity_type) or not is_valid_id(entity_id):
        raise PageError(404, "There is no such entity.")
    data = await page.dashboard.entity(page.tenant_id, entity_type, entity_id)
    return render(request, "entity.html", {"section": "entities", **data})


@router.get("/{tenant}/users")
async def users(request: Request, page: TenantDep, q: Text = None) -> Response:
    prefix = _optional(q)
    found = await page.dashboard.find_users(page.tenant_id, prefix)
    return render(request, "users.html", {"section": "users", "q": prefix, "found": found})


@router.get("/{tenant}/users/{user_id}")
async def user(request: Request, page: TenantDep, user_id: Annotated[str, Path()]) -> Response:
    if not is_valid_id(user_id):
        raise PageError(404, "There is no such user.")
    data = await page.dashboard.user(page.tenant_id, user_id)
    return render(
        request,
        "user.html",
        {"section": "users", "user_id": user_id, "algorithms": ALGORITHMS, **data},
    )


@router.post("/{tenant}/users/{user_id}/what-if")
async def what_if(
    request: Request, page: TenantDep, form: FormDep, user_id: Annotated[str, Path()]
) -> Response:
    """Record one interaction, or preview it, and show the list before and after."""
    if not is_valid_id(user_id):
        raise PageError(404, "There is no such user.")
    entity_type = form.get("entity_type", "").strip()
    entity_id = form.get("entity_id", "").strip()
    interaction_type = form.get("interaction_type", "").strip()
    algorithm = form.get("algorithm", "hybrid")
    record = form.get("mode") == "record"
    context: dict = {"user_id": user_id, "form": form, "record": record}
    try:
        if not is_valid_name(entity_type) or not is_valid_id(entity_id):
            raise PageError(422, "Give the entity's type and id.")
        if algorithm not in ALGORITHMS:
            raise PageError(422, "Choose an algorithm.")
        value = float(form["value"]) if form.get("value", "").strip() else None
        context["result"] = await page.dashboard.what_if(
            page.tenant_id,
            user_id,
            entity_type,
            entity_id,
            interaction_type,
            value,
            algorithm,
            record,
        )
    except ValidationError as error:
        problem = error.errors(include_url=False)[0]
        context["error"] = f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}"
    except ValueError:
        context["error"] = "The value must be a number."
    except (PageError, AppError) as error:
        context["error"] = error.message
    status = 422 if "error" in context else 200
    if request.headers.get("hx-request"):
        # htmx swaps only 2xx answers by default: the error is shown in the same place.
        return render(request, "what_if_result.html", context)
    data = await page.dashboard.user(page.tenant_id, user_id)
    return render(
        request,
        "user.html",
        {"section": "users", "algorithms": ALGORITHMS, **data, "what_if": context},
        status_code=status,
    )


@router.get("/{tenant}/trending")
async def trending(
    request: Request,
    page: TenantDep,
    window_days: Annotated[int, Query(ge=1, le=90)] = 7,
    entity_type: Text = None,
) -> Response:
    kind = _optional(entity_type)
    if kind is not None and not is_valid_name(kind):
        raise PageError(422, "That is not an entity type.")
    types = await page.dashboard.entity_types(page.tenant_id)
    count = (await page.dashboard.services.tenants.config(page.tenant_id)).max_recommendation_count
    data = await page.dashboard.trending(page.tenant_id, kind, window_days, min(count, 50))
    return render(
        request,
        "trending.html",
        {
            "section": "trending",
            "types": types,
            "windows": sorted({*STORED_WINDOWS, window_days}),
            "window_days": window_days,
            "entity_type": kind,
            "items": data["trending"],
        },
    )
