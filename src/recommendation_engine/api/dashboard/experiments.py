"""A tenant's experiments with their results, and the online evaluation of what the
service served: click-through by route and algorithm over time."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from recommendation_engine.api.dashboard.access import PREFIX, DashboardRoute, TenantDep
from recommendation_engine.api.dashboard.rendering import render
from recommendation_engine.errors import NotFound

router = APIRouter(route_class=DashboardRoute, include_in_schema=False, prefix=PREFIX + "/t")

ONLINE_DAYS = (1, 7, 30)


def _chart(report: dict[str, Any]) -> dict[str, Any]:
    """CTR per time bucket, one line per route and algorithm."""
    times = sorted({point["time"] for point in report["series"]})
    series: dict[str, dict[Any, float | None]] = {}
    for point in report["series"]:
        name = f"{point['route']} · {point['algorithm']}"
        series.setdefault(name, {})[point["time"]] = point["ctr"]["value"]
    return {
        "type": "line",
        "labels": [t.strftime("%m-%d %H:00") for t in times],
        "datasets": [
            {"label": name, "data": [values.get(t) for t in times]}
            for name, values in sorted(series.items())
        ],
        "yTitle": "CTR",
    }


@router.get("/{tenant}/experiments")
async def experiments(
    request: Request,
    page: TenantDep,
    experiment: Annotated[UUID | None, Query()] = None,
    days: Annotated[int, Query(ge=1, le=90)] = 7,
) -> Response:
    services = page.dashboard.services
    listed = await services.experiments.list_experiments(page.tenant_id)
    chosen = experiment or next((UUID(e["id"]) for e in listed), None)
    results = None
    if chosen is not None:
        try:
            results = await services.experiments.results(page.tenant_id, chosen)
        except NotFound:
            results = None
    online = await services.online_evaluation.report(
        page.tenant_id, "hour" if days <= 2 else "day", days
    )
    return render(
        request,
        "experiments.html",
        {
            "section": "experiments",
            "experiments": listed,
            "results": results,
            "online": online,
            "online_chart": _chart(online),
            "days": days,
            "day_choices": ONLINE_DAYS,
        },
    )
