"""A tenant's model: its versions, a rebuild with its progress, and offline evaluation
of the tenant's own data."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response

from recommendation_engine.api.dashboard.access import (
    PREFIX,
    DashboardRoute,
    FormDep,
    PageError,
    TenantDep,
    redirect,
)
from recommendation_engine.api.dashboard.rendering import render

router = APIRouter(route_class=DashboardRoute, include_in_schema=False, prefix=PREFIX + "/t")

METRIC_NAMES = ("ndcg@10", "recall@10", "recall@20", "hr@10", "precision@10", "map@10")


@router.get("/{tenant}/model")
async def model(
    request: Request,
    page: TenantDep,
    rebuild_since: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    dashboard = page.dashboard
    status = await dashboard.services.model_status(page.tenant_id)
    history = await dashboard.model_history(page.tenant_id)
    metric_names = sorted({name for row in history for name in row["validation"]})
    progress = None
    if rebuild_since is not None:
        progress = await dashboard.rebuild_progress(page.tenant_id, rebuild_since)
    labels = [f"v{row['version']}" for row in history]
    sizes = {
        "type": "bar",
        "labels": labels,
        "datasets": [
            {
                "label": "build time (s)",
                "data": [round(row["build_seconds"], 2) for row in history],
                "yAxisID": "y",
            },
            {
                "label": "interactions",
                "type": "line",
                "data": [row["interactions"] for row in history],
                "yAxisID": "y2",
            },
        ],
        "yTitle": "build time (s)",
        "y2Title": "interactions",
    }
    validation = {
        "type": "line",
        "labels": labels,
        "datasets": [
            {"label": name, "data": [row["validation"].get(name) for row in history]}
            for name in metric_names
        ],
        "yTitle": "validation metric",
    }
    return render(
        request,
        "model.html",
        {
            "section": "model",
            "status": status,
            "history": history,
            "metric_names": metric_names,
            "progress": progress,
            "since": rebuild_since,
            "sizes_chart": sizes,
            "validation_chart": validation,
        },
    )


@router.post("/{tenant}/model/rebuild")
async def rebuild(page: TenantDep, form: FormDep) -> Response:
    since = await page.dashboard.rebuild(page.tenant_id)
    return redirect(f"{page.base}/model?rebuild_since={since}")


@router.get("/{tenant}/model/progress")
async def rebuild_progress(
    request: Request, page: TenantDep, since: Annotated[int, Query(ge=0)]
) -> Response:
    progress = await page.dashboard.rebuild_progress(page.tenant_id, since)
    headers = {}
    if progress["state"] == "done":
        # The whole page again: the new version in the table and the chart.
        headers["HX-Refresh"] = "true"
    return render(
        request,
        "rebuild_progress.html",
        {"progress": progress, "since": since},
        headers=headers,
    )


@router.get("/{tenant}/evaluate")
async def evaluations(request: Request, page: TenantDep) -> Response:
    runs = await page.dashboard.evaluations.latest(page.tenant_id)
    return render(
        request,
        "evaluate.html",
        {"section": "evaluate", "runs": runs, "run": runs[0] if runs else None, **_names()},
    )


@router.post("/{tenant}/evaluate")
async def evaluate(page: TenantDep, form: FormDep) -> Response:
    run_id = await page.dashboard.evaluations.start(page.tenant_id)
    if run_id is None:
        raise PageError(409, "An evaluation of this tenant is running already.")
    return redirect(f"{page.base}/evaluate/{run_id}")


async def _run(page: TenantDep, run_id: str) -> dict:
    try:
        UUID(run_id)
    except ValueError:
        raise PageError(404, "There is no such evaluation.") from None
    run = await page.dashboard.evaluations.get(page.tenant_id, run_id)
    if run is None:
        raise PageError(404, "There is no such evaluation.")
    return run


@router.get("/{tenant}/evaluate/{run_id}")
async def evaluation(request: Request, page: TenantDep, run_id: Annotated[str, Path()]) -> Response:
    run = await _run(page, run_id)
    runs = await page.dashboard.evaluations.latest(page.tenant_id)
    return render(
        request, "evaluate.html", {"section": "evaluate", "runs": runs, "run": run, **_names()}
    )


@router.get("/{tenant}/evaluate/{run_id}/progress")
async def evaluation_progress(
    request: Request, page: TenantDep, run_id: Annotated[str, Path()]
) -> Response:
    run = await _run(page, run_id)
    headers = {"HX-Refresh": "true"} if run["state"] != "running" else {}
    return render(request, "evaluation_progress.html", {"run": run}, headers=headers)


def _names() -> dict:
    return {"metric_names": METRIC_NAMES}
