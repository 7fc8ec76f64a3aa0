"""/api/v1/entities"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import StreamingResponse

from recommendation_engine.api.bulk import bulk_response, check_bulk_size
from recommendation_engine.api.deps import ServicesDep, TenantDep
from recommendation_engine.api.responses import FastJSONResponse, dumps
from recommendation_engine.api.schemas import (
    ERRORS,
    BulkEntitiesIn,
    BulkResultOut,
    EntityOut,
)
from recommendation_engine.models import (
    ID_MAX_LENGTH,
    ID_PATTERN,
    NAME_PATTERN,
    EntityInput,
    EntityUpdate,
)
from recommendation_engine.service.transfer import export_records

router = APIRouter(prefix="/api/v1/entities", tags=["entities"], responses=ERRORS)

EntityIdPath = Annotated[
    str, Path(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH, description="The entity's id")
]
EntityTypeQuery = Annotated[
    str | None,
    Query(pattern=NAME_PATTERN, description="May be omitted when the id is unique in the tenant"),
]


def ndjson(records: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    async def lines() -> AsyncIterator[bytes]:
        async for record in records:
            yield dumps(record) + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.post("", status_code=201, response_model=EntityOut, summary="Register an entity")
async def create_entity(body: EntityInput, services: ServicesDep, tenant: TenantDep) -> Response:
    entity = await services.entities.create(tenant, body)
    return FastJSONResponse(entity.as_dict(), status_code=201)


@router.post("/bulk", response_model=BulkResultOut, summary="Create or replace many entities")
async def bulk_entities(body: BulkEntitiesIn, services: ServicesDep, tenant: TenantDep) -> Response:
    check_bulk_size(len(body.entities), services.settings.limits.max_bulk_items)
    result = await services.entities.bulk_upsert(tenant, body.entities)
    return bulk_response(result, body.entities, ("entity_id",))


@router.get(
    "/export",
    summary="Every entity of the tenant as NDJSON",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
async def export_entities(services: ServicesDep, tenant: TenantDep) -> StreamingResponse:
    return ndjson(export_records(services, tenant, "entities"))


@router.get("/{entity_id}", response_model=EntityOut, summary="Get an entity")
async def get_entity(
    entity_id: EntityIdPath,
    services: ServicesDep,
    tenant: TenantDep,
    entity_type: EntityTypeQuery = None,
) -> Response:
    entity = await services.entities.get(tenant, entity_id, entity_type)
    return FastJSONResponse(entity.as_dict())


@router.put("/{entity_id}", response_model=EntityOut, summary="Replace an entity's attributes")
async def update_entity(
    entity_id: EntityIdPath,
    body: EntityUpdate,
    services: ServicesDep,
    tenant: TenantDep,
    entity_type: EntityTypeQuery = None,
) -> Response:
    entity = await services.entities.update(
        tenant, entity_id, entity_type, body.attributes, body.feature_vector
    )
    return FastJSONResponse(entity.as_dict())


@router.delete("/{entity_id}", status_code=204, summary="Delete an entity and its interactions")
async def delete_entity(
    entity_id: EntityIdPath,
    services: ServicesDep,
    tenant: TenantDep,
    entity_type: EntityTypeQuery = None,
) -> Response:
    await services.entities.delete(tenant, entity_id, entity_type)
    return Response(status_code=204)
