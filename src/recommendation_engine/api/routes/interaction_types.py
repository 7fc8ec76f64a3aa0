"""/api/v1/interaction-types"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from recommendation_engine.api.deps import ServicesDep, TenantDep
from recommendation_engine.api.responses import FastJSONResponse
from recommendation_engine.api.schemas import ERRORS, InteractionTypeOut, interaction_type_out
from recommendation_engine.models import NAME_PATTERN, InteractionTypeInput, InteractionTypeUpdate

router = APIRouter(prefix="/api/v1/interaction-types", tags=["interaction types"], responses=ERRORS)

TypePath = Annotated[str, Path(pattern=NAME_PATTERN, description="Interaction type name")]


@router.post(
    "",
    status_code=201,
    response_model=InteractionTypeOut,
    summary="Register a custom type",
    responses={
        200: {"model": InteractionTypeOut, "description": "The type exists with this weight"}
    },
)
async def create_type(
    body: InteractionTypeInput, services: ServicesDep, tenant: TenantDep
) -> Response:
    kind, created = await services.interaction_types.create(
        tenant, body.interaction_type, body.default_weight, body.description
    )
    return FastJSONResponse(interaction_type_out(kind), status_code=201 if created else 200)


@router.get("", response_model=list[InteractionTypeOut], summary="List interaction types")
async def list_types(services: ServicesDep, tenant: TenantDep) -> Response:
    types = await services.interaction_types.all(tenant)
    return FastJSONResponse([interaction_type_out(t) for t in types.values()])


@router.get("/{interaction_type}", response_model=InteractionTypeOut, summary="Get one type")
async def get_type(
    interaction_type: TypePath, services: ServicesDep, tenant: TenantDep
) -> Response:
    kind = await services.interaction_types.get(tenant, interaction_type)
    return FastJSONResponse(interaction_type_out(kind))


@router.put(
    "/{interaction_type}", response_model=InteractionTypeOut, summary="Change a type's weight"
)
async def update_type(
    interaction_type: TypePath,
    body: InteractionTypeUpdate,
    services: ServicesDep,
    tenant: TenantDep,
) -> Response:
    kind = await services.interaction_types.update(
        tenant, interaction_type, body.weight, body.description
    )
    return FastJSONResponse(interaction_type_out(kind))


@router.delete("/{interaction_type}", status_code=204, summary="Delete an unused custom type")
async def delete_type(
    interaction_type: TypePath, services: ServicesDep, tenant: TenantDep
) -> Response:
    await services.interaction_types.delete(tenant, interaction_type)
    return Response(status_code=204)
