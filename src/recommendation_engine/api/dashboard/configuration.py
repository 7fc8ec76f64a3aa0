"""A tenant's configuration: interaction types and their weights, webhooks with their
deliveries."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

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
from recommendation_engine.models import InteractionTypeInput, is_valid_name

router = APIRouter(route_class=DashboardRoute, include_in_schema=False, prefix=PREFIX + "/t")

DELIVERY_STATUSES = ("pending", "delivered", "failed")
DELIVERIES_SHOWN = 50


def _weight(text: str | None) -> float:
    try:
        return float((text or "").strip())
    except ValueError:
        raise PageError(422, "A weight is a number, such as 2 or 0.5.") from None


@router.get("/{tenant}/interaction-types")
async def interaction_types(request: Request, page: TenantDep) -> Response:
    types = await page.dashboard.services.interaction_types.all(page.tenant_id)
    return render(
        request,
        "interaction_types.html",
        {"section": "interaction_types", "types": sorted(types.values(), key=_order)},
    )


def _order(kind: object) -> tuple[bool, str]:
    return (not getattr(kind, "built_in", False), getattr(kind, "interaction_type", ""))


@router.post("/{tenant}/interaction-types")
async def add_interaction_type(page: TenantDep, form: FormDep) -> Response:
    try:
        data = InteractionTypeInput(
            interaction_type=form.get("interaction_type", "").strip(),
            default_weight=_weight(form.get("default_weight")),
            description=form.get("description", "").strip() or None,
        )
    except ValidationError as error:
        raise PageError(422, _first_problem(error)) from None
    await page.dashboard.services.interaction_types.create(
        page.tenant_id, data.interaction_type, data.default_weight, data.description
    )
    return redirect(f"{page.base}/interaction-types")


@router.post("/{tenant}/interaction-types/{name}")
async def change_weight(page: TenantDep, form: FormDep, name: Annotated[str, Path()]) -> Response:
    if not is_valid_name(name):
        raise PageError(404, "There is no such interaction type.")
    weight = _weight(form.get("weight"))
    if not -1_000_000 <= weight <= 1_000_000:
        raise PageError(422, "A weight lies between -1,000,000 and 1,000,000.")
    await page.dashboard.services.interaction_types.update(page.tenant_id, name, weight, None)
    return redirect(f"{page.base}/interaction-types")


def _first_problem(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    field = ".".join(str(p) for p in first["loc"])
    return f"{field}: {first['msg']}"


@router.get("/{tenant}/webhooks")
async def webhooks(request: Request, page: TenantDep) -> Response:
    hooks = await page.dashboard.webhooks(page.tenant_id)
    return render(request, "webhooks.html", {"section": "webhooks", "hooks": hooks})


def _webhook_id(value: str) -> str:
    try:
        return str(UUID(value))
    except ValueError:
        raise PageError(404, "There is no such webhook.") from None


@router.get("/{tenant}/webhooks/{webhook_id}")
async def webhook(
    request: Request,
    page: TenantDep,
    webhook_id: Annotated[str, Path()],
    status: Annotated[str | None, Query()] = None,
) -> Response:
    webhook_id = _webhook_id(webhook_id)
    chosen = status if status in DELIVERY_STATUSES else None
    services = page.dashboard.services
    hook = await services.webhooks.get(page.tenant_id, webhook_id)
    deliveries = await services.webhooks.deliveries(
        page.tenant_id, webhook_id, chosen, DELIVERIES_SHOWN, 0
    )
    return render(
        request,
        "webhook.html",
        {
            "section": "webhooks",
            "hook": hook,
            "deliveries": deliveries,
            "status": chosen,
            "statuses": DELIVERY_STATUSES,
        },
    )


@router.post("/{tenant}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    page: TenantDep,
    form: FormDep,
    webhook_id: Annotated[str, Path()],
    delivery_id: Annotated[int, Path(ge=1)],
) -> Response:
    webhook_id = _webhook_id(webhook_id)
    await page.dashboard.services.webhooks.redeliver(page.tenant_id, webhook_id, delivery_id)
    return redirect(f"{page.base}/webhooks/{webhook_id}?redelivered={delivery_id}")
