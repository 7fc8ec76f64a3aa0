"""/api/v1/experiments and /api/v1/evaluation/online"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from recommendation_engine.api.deps import ServicesDep, TenantDep
from recommendation_engine.api.responses import FastJSONResponse
from recommendation_engine.api.schemas import ERRORS
from recommendation_engine.service.experiments import ExperimentInput
from recommendation_engine.service.online_evaluation import Bucket

router = APIRouter(tags=["experiments"], responses=ERRORS)


class VariantOut(BaseModel):
    name: str
    share: float
    overrides: dict[str, Any]


class ExperimentOut(BaseModel):
    id: str
    name: str
    route: str = Field(description="user, similar or both")
    state: str = Field(description="draft, running or stopped")
    variants: list[VariantOut]
    control_share: float = Field(description="Share of users served the tenant's defaults")
    click_types: list[str]
    conversion_types: list[str]
    planned_users_per_variant: int | None
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None


class EstimateOut(BaseModel):
    value: float | None
    ci_low: float | None = Field(description="95 % confidence interval, lower end")
    ci_high: float | None = Field(description="95 % confidence interval, upper end")


class LiftOut(BaseModel):
    relative: float | None = Field(description="variant / baseline - 1")
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


class LiftsOut(BaseModel):
    ctr: LiftOut = Field(description="Two-proportion z-test")
    conversion_rate: LiftOut = Field(description="Two-proportion z-test")
    value_per_user: LiftOut = Field(description="Welch's t-test")


class VariantResultOut(BaseModel):
    name: str
    share: float
    users: int
    impressions: int
    clicked_impressions: int
    clicks: int
    conversions: int
    converted_users: int
    ctr: EstimateOut = Field(description="Impressions with a click / impressions")
    conversion_rate: EstimateOut = Field(description="Users with a conversion / users")
    value_per_user: EstimateOut = Field(
        description="Mean over users of the weight of their attributed interactions"
    )
    lift: LiftsOut | None = Field(description="Against the baseline; null for the baseline")


class SampleRatioOut(BaseModel):
    p_value: float | None
    flagged: bool


class ExperimentResultsOut(BaseModel):
    experiment: ExperimentOut
    baseline: str = Field(description="'control', or the first variant when shares add up to 1")
    attribution_window_hours: float
    variants: list[VariantResultOut]
    sample_ratio_mismatch: SampleRatioOut
    planned_users_per_variant: int | None
    planned_sample_reached: bool
    warnings: list[str]


class OnlinePointOut(BaseModel):
    time: datetime
    route: str
    algorithm: str
    impressions: int
    clicked_impressions: int
    converted_impressions: int
    ctr: EstimateOut
    conversion_rate: EstimateOut


class OnlineEvaluationOut(BaseModel):
    bucket: str
    since: datetime
    click_types: list[str]
    conversion_types: list[str]
    attribution_window_hours: float
    series: list[OnlinePointOut]


@router.post(
    "/api/v1/experiments",
    status_code=201,
    response_model=ExperimentOut,
    summary="Create an experiment (as a draft)",
)
async def create_experiment(
    body: ExperimentInput, services: ServicesDep, tenant: TenantDep
) -> Response:
    return FastJSONResponse(await services.experiments.create(tenant, body), status_code=201)


@router.get(
    "/api/v1/experiments", response_model=list[ExperimentOut], summary="List the experiments"
)
async def list_experiments(services: ServicesDep, tenant: TenantDep) -> Response:
    return FastJSONResponse(await services.experiments.list_experiments(tenant))


@router.get(
    "/api/v1/experiments/{experiment_id}", response_model=ExperimentOut, summary="An experiment"
)
async def get_experiment(experiment_id: UUID, services: ServicesDep, tenant: TenantDep) -> Response:
    return FastJSONResponse(await services.experiments.get(tenant, experiment_id))


@router.post(
    "/api/v1/experiments/{experiment_id}/start",
    response_model=ExperimentOut,
    summary="Start a draft experiment (409 when another runs on the same route)",
)
async def start_experiment(
    experiment_id: UUID, services: ServicesDep, tenant: TenantDep
) -> Response:
    return FastJSONResponse(await services.experiments.start(tenant, experiment_id))


@router.post(
    "/api/v1/experiments/{experiment_id}/stop",
    response_model=ExperimentOut,
    summary="Stop a running experiment",
)
async def stop_experiment(
    experiment_id: UUID, services: ServicesDep, tenant: TenantDep
) -> Response:
    return FastJSONResponse(await services.experiments.stop(tenant, experiment_id))


@router.get(
    "/api/v1/experiments/{experiment_id}/results",
    response_model=ExperimentResultsOut,
    summary="Per-variant results with intervals, lifts, p-values and the sample-ratio check",
)
async def experiment_results(
    experiment_id: UUID, services: ServicesDep, tenant: TenantDep
) -> Response:
    return FastJSONResponse(await services.experiments.results(tenant, experiment_id))


@router.get(
    "/api/v1/evaluation/online",
    response_model=OnlineEvaluationOut,
    summary="Click-through and conversion of served recommendations by route and algorithm",
)
async def online_evaluation(
    services: ServicesDep,
    tenant: TenantDep,
    bucket: Bucket = "hour",
    days: Annotated[int, Query(ge=1, le=90, description="How far back")] = 1,
    click_types: Annotated[
        list[str] | None,
        Query(
            max_length=20,
            description="Types counted as clicks, repeated or comma-separated "
            "(default click, view)",
        ),
    ] = None,
    conversion_types: Annotated[
        list[str] | None,
        Query(
            max_length=20,
            description="Types counted as conversions (default purchase, add_to_cart)",
        ),
    ] = None,
) -> Response:
    return FastJSONResponse(
        await services.online_evaluation.report(
            tenant, bucket, days, _names(click_types), _names(conversion_types)
        )
    )


def _names(values: list[str] | None) -> list[str] | None:
    """Repeated parameters, each of which may be a comma-separated list."""
    if values is None:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]
