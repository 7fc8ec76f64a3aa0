"""/api/v1/interactions"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import StreamingResponse

from recommendation_engine.api.bulk import bulk_response, check_bulk_size
from recommendation_engine.api.deps import ServicesDep, TenantDep
from recommendation_engine.api.responses import FastJSONResponse
from recommendation_engine.api.routes.entities import ndjson
from recommendation_engine.api.schemas import (
    ERRORS,
    BulkInteractionsIn,
    BulkResultOut,
    InteractionOut,
)
from recommendation_engine.models import ID_MAX_LENGTH, ID_PATTERN, NAME_PATTERN, InteractionInput
from recommendation_engine.service.interactions import effective_weight
from recommendation_engine.service.transfer import export_records

router = APIRouter(prefix="/api/v1/interactions", tags=["interactions"], responses=ERRORS)

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Rows to skip")]


@router.post(
    "",
    status_code=201,
    response_model=InteractionOut,
    summary="Record an interaction",
    responses={200: {"model": InteractionOut, "description": "Replay of a recorded event_id"}},
)
async def record_interaction(
    body: InteractionInput, services: ServicesDep, tenant: TenantDep
) -> Response:
    recorded = await services.interactions.record(tenant, body)
    types = await services.interaction_types.all(tenant)
    item = recorded.interaction
    return FastJSONResponse(
        item.as_dict(effective_weight(item, types)),
        status_code=201 if recorded.created else 200,
    )


@router.post("/bulk", response_model=BulkResultOut, summary="Record many interactions")
async def bulk_interactions(
    body: BulkInteractionsIn, services: ServicesDep, tenant: TenantDep
) -> Response:
    check_bulk_size(len(body.interactions), services.settings.limits.max_bulk_items)
    result = await services.interactions.bulk_record(tenant, body.interactions)
    return bulk_response(result, body.interactions, ("user_id", "entity_id"))


@router.get(
    "/export",
    summary="Every interaction of the tenant as NDJSON",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
async def export_interactions(services: ServicesDep, tenant: TenantDep) -> StreamingResponse:
    return ndjson(export_records(services, tenant, "interactions"))


@router.get(
    "/user/{user_id}",
    response_model=list[InteractionOut],
    summary="A user's interactions, newest first",
)
async def user_interactions(
    user_id: Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH)],
    services: ServicesDep,
    tenant: TenantDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    items = await services.interactions.for_user(tenant, user_id, limit, offset)
    types = await services.interaction_types.all(tenant)
    return FastJSONResponse([i.as_dict(effective_weight(i, types)) for i in items])


@router.get(
    "/entity/{entity_id}",
    response_model=list[InteractionOut],
    summary="An entity's interactions, newest first",
)
async def entity_interactions(
    entity_id: Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH)],
    services: ServicesDep,
    tenant: TenantDep,
    entity_type: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    items = await services.interactions.for_entity(tenant, entity_id, entity_type, limit, offset)
    types = await services.interaction_types.all(tenant)
    return FastJSONResponse([i.as_dict(effective_weight(i, types)) for i in items])
