"""/api/v1/recommendations and /api/v1/model"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from recommendation_engine.api.deps import ServicesDep, TenantDep
from recommendation_engine.api.responses import FastJSONResponse
from recommendation_engine.api.schemas import ERRORS
from recommendation_engine.errors import ValidationFailed
from recommendation_engine.models import ID_MAX_LENGTH, ID_PATTERN, NAME_PATTERN, text_problem
from recommendation_engine.service.recommendations import (
    Algorithm,
    Answer,
    SimilarQuery,
    TrendingQuery,
    UserQuery,
)

router = APIRouter(tags=["recommendations"], responses=ERRORS)

FILTER_PREFIX = "filter."


class RecommendationOut(BaseModel):
    entity_id: str
    entity_type: str
    score: float
    reason: str
    because: list[dict[str, str]]
    attributes: dict[str, Any]


class ExperimentArmOut(BaseModel):
    id: str = Field(description="The running experiment's id")
    variant: str = Field(description="The user's variant, or 'control'")


RECOMMENDATION_ID = Field(
    description="This answer's own id (new for every response, cached or not); send it "
    "with the interactions it leads to"
)
EXPERIMENT = Field(
    default=None, description="The experiment and variant this answer was served under"
)


class UserRecommendationsOut(BaseModel):
    recommendation_id: str = RECOMMENDATION_ID
    experiment: ExperimentArmOut | None = EXPERIMENT
    user_id: str
    algorithm: str
    count: int
    recommendations: list[RecommendationOut]
    cold_start: bool
    model_version: int | None
    generated_at: datetime = Field(
        description="When this list was computed (a cached answer keeps its first time)"
    )


def _ids(text: str | None) -> set[str]:
    """The ids of a comma-separated list."""
    return {part.strip() for part in (text or "").split(",") if part.strip()}


def _cached(answer: Answer) -> Response:
    """A rendered answer, saying whether it came from a cache layer ("memory", "redis")
    or was computed for this request."""
    return Response(answer.body, media_type="application/json", headers={"X-Cache": answer.source})


def _filters(request: Request) -> dict[str, str]:
    filters = {
        name[len(FILTER_PREFIX) :]: value
        for name, value in request.query_params.multi_items()
        if name.startswith(FILTER_PREFIX) and len(name) > len(FILTER_PREFIX)
    }
    for name, value in filters.items():
        problem = text_problem(name) or text_problem(value)
        if problem:
            raise ValidationFailed(
                f"filter.{name!r}: {problem}", [{"field": f"query.filter.{name!r}"}]
            )
    return filters


# The query parameters of the recommendation routes, each route's in one model: FastAPI
# then validates them in one go rather than one by one (about a fifth of its per-request
# parameter work on these routes). The OpenAPI document lists them as before.
_EXCLUDE = Field(default=None, description="Comma-separated entity ids")


class UserParams(BaseModel):
    count: int | None = Field(default=None, ge=1)
    algorithm: Algorithm = "hybrid"
    collaborative_weight: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    content_based_weight: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    entity_type: str | None = Field(default=None, pattern=NAME_PATTERN)
    exclude: str | None = _EXCLUDE
    exclude_seen: bool = True


@router.get(
    "/api/v1/recommendations/user/{user_id}",
    response_model=UserRecommendationsOut,
    summary="Personalised recommendations for a user",
)
async def user_recommendations(
    request: Request,
    user_id: Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH)],
    params: Annotated[UserParams, Query()],
    services: ServicesDep,
    tenant: TenantDep,
) -> Response:
    query = UserQuery(
        user_id=user_id,
        count=params.count,
        algorithm=params.algorithm,
        collaborative_weight=params.collaborative_weight,
        content_weight=params.content_based_weight,
        entity_type=params.entity_type,
        exclude=_ids(params.exclude),
        exclude_seen=params.exclude_seen,
        filters=_filters(request),
    )
    return _cached(await services.served.user_answer(tenant, query))


class SimilarOut(BaseModel):
    recommendation_id: str = RECOMMENDATION_ID
    experiment: ExperimentArmOut | None = EXPERIMENT
    entity_id: str
    entity_type: str
    algorithm: str
    count: int
    recommendations: list[RecommendationOut]
    cold_start: bool = Field(
        description="The entity has no interactions in the live model: the list is by content"
    )
    generated_at: datetime = Field(
        description="When this list was computed (a cached answer keeps its first time)"
    )


class SimilarParams(BaseModel):
    entity_type: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="The given entity's type"
    )
    count: int | None = Field(default=None, ge=1)
    algorithm: Algorithm = "hybrid"
    result_type: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="Only return entities of this type"
    )
    exclude: str | None = _EXCLUDE
    user_id: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        max_length=ID_MAX_LENGTH,
        description="The user the list is shown to: places the answer in a running "
        "experiment and attributes the user's interactions to it",
    )


@router.get(
    "/api/v1/recommendations/entity/{entity_id}",
    response_model=SimilarOut,
    summary="Entities similar to one entity",
)
async def similar_entities(
    request: Request,
    entity_id: Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH)],
    params: Annotated[SimilarParams, Query()],
    services: ServicesDep,
    tenant: TenantDep,
) -> Response:
    query = SimilarQuery(
        user_id=params.user_id,
        entity_id=entity_id,
        entity_type=params.entity_type,
        count=params.count,
        algorithm=params.algorithm,
        result_type=params.result_type,
        exclude=_ids(params.exclude),
        filters=_filters(request),
    )
    return _cached(await services.served.similar_answer(tenant, query))


class TrendingOut(BaseModel):
    recommendation_id: str = RECOMMENDATION_ID
    trending: list[RecommendationOut]
    count: int
    window_days: int
    entity_type: str | None
    generated_at: datetime = Field(
        description="When this list was computed (a cached answer keeps its first time)"
    )


class TrendingParams(BaseModel):
    entity_type: str | None = Field(default=None, pattern=NAME_PATTERN)
    count: int | None = Field(default=None, ge=1)
    window_days: int = Field(default=7, ge=1, le=90)


@router.get(
    "/api/v1/recommendations/trending",
    response_model=TrendingOut,
    summary="Entities with the most time-decayed interaction weight in a recent window",
)
async def trending(
    params: Annotated[TrendingParams, Query()],
    services: ServicesDep,
    tenant: TenantDep,
) -> Response:
    query = TrendingQuery(
        entity_type=params.entity_type, count=params.count, window_days=params.window_days
    )
    return _cached(await services.served.trending_answer(tenant, query))


@router.get("/api/v1/model/status", summary="The live model and any build in progress")
async def model_status(services: ServicesDep, tenant: TenantDep) -> dict[str, Any]:
    return await services.model_status(tenant)


@router.post(
    "/api/v1/model/rebuild",
    status_code=202,
    summary="Start a full model rebuild (and a trending refresh), or an incremental update",
)
async def model_rebuild(
    services: ServicesDep,
    tenant: TenantDep,
    incremental: Annotated[
        bool,
        Query(description="fold the interactions recorded since the live version in now"),
    ] = False,
) -> Response:
    services.start_rebuild(tenant, incremental=incremental)
    what = "an incremental update" if incremental else "a full rebuild"
    return FastJSONResponse(
        {"status": "accepted", "message": f"{what} has started; see /api/v1/model/status"},
        status_code=202,
    )
