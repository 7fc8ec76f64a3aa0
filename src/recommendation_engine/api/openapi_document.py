"""What the OpenAPI document states beyond what FastAPI derives from the routes: the
length of a feature vector this deployment accepts, and the credentials and tenant every
secured route reads from the request itself (`deps.require_api_key`, `deps.get_tenant`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute

from recommendation_engine.api.deps import (
    API_KEY_SCHEME,
    BEARER_SCHEME,
    get_tenant,
    require_api_key,
)
from recommendation_engine.config import Settings
from recommendation_engine.models import NAME_PATTERN

SCHEMES = (API_KEY_SCHEME, BEARER_SCHEME)
TENANT_PARAMETERS = (
    ("tenant_id", "query", "Tenant Id", "The same as X-Tenant-ID, for clients that send it here"),
    (
        "X-Tenant-ID",
        "header",
        "X-Tenant-Id",
        "The tenant to act for; a tenant's key may name only its own",
    ),
)
# Where FastAPI lists a parameter among an operation's parameters.
_PLACES = {"path": 0, "query": 1, "header": 2, "cookie": 3}


def install(app: FastAPI, settings: Settings) -> None:
    """Have ``app.openapi()`` complete FastAPI's document (once, when first asked)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _feature_vector_length(document, settings.engine.feature_vector_dimension)
            _credentials_and_tenant(document, app)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _feature_vector_length(document: dict[str, Any], dimension: int) -> None:
    """FEATURE_VECTOR_DIMENSION fixes the length of an entity's feature vector."""
    for name in ("EntityInput", "EntityUpdate"):
        vector = document["components"]["schemas"][name]["properties"]["feature_vector"]
        for variant in vector["anyOf"]:
            if variant.get("type") == "array":
                variant.update(minItems=dimension, maxItems=dimension)


def _credentials_and_tenant(document: dict[str, Any], app: FastAPI) -> None:
    """Each operation that authenticates its caller accepts either scheme; each that acts
    for a tenant accepts the tenant in a header or a query parameter."""
    secured = False
    for route, operation in _operations(document, app):
        calls = {dependant.call for dependant in _dependants(route.dependant)}
        if require_api_key in calls:
            secured = True
            operation["security"] = [{scheme.scheme_name: []} for scheme in SCHEMES]
        if get_tenant in calls:
            parameters = operation.setdefault("parameters", [])
            parameters += [_optional_name(*parameter) for parameter in TENANT_PARAMETERS]
            parameters.sort(key=lambda parameter: _PLACES[parameter["in"]])
    if secured:
        schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
        for scheme in SCHEMES:
            schemes[scheme.scheme_name] = jsonable_encoder(
                scheme.model, by_alias=True, exclude_none=True
            )


def _operations(document: dict[str, Any], app: FastAPI) -> Iterator[tuple[APIRoute, dict]]:
    for route in app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in route.methods:
                yield route, document["paths"][route.path_format][method.lower()]


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for dependency in dependant.dependencies:
        yield from _dependants(dependency)


def _optional_name(name: str, place: str, title: str, description: str) -> dict[str, Any]:
    """An optional parameter holding a name (`NAME_PATTERN`), described as FastAPI
    describes one."""
    return {
        "description": description,
        "in": place,
        "name": name,
        "required": False,
        "schema": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": description,
            "pattern": NAME_PATTERN,
            "title": title,
        },
    }
