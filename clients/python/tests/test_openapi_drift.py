"""The client's models and methods against the service's own OpenAPI document."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import recommendation_client
from conftest import Service
from recommendation_client import AsyncRecommendationClient, RecommendationClient, models

ROOT = Path(__file__).resolve().parents[1]
MODELS = [
    cls for cls in vars(models).values()
    if isinstance(cls, type) and issubclass(cls, models.Model) and cls.__dict__.get("__schema__")
]


@pytest.fixture(scope="module")
def schemas(service: Service) -> dict[str, Any]:
    document = httpx.get(f"{service.url}/api/docs", headers={"X-API-Key": service.api_key}).json()
    result: dict[str, Any] = document["components"]["schemas"]
    return result


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_model_fields_match_the_schema(cls: type[models.Model], schemas: dict[str, Any]) -> None:
    schema = schemas[cls.__schema__]  # type: ignore[index]
    fields = {f.name for f in dataclasses.fields(cls)}
    assert fields == set(schema["properties"]), f"{cls.__name__} drifted from {cls.__schema__}"


def test_every_response_schema_has_a_model(schemas: dict[str, Any]) -> None:
    covered = {cls.__schema__ for cls in MODELS}
    responses = {name for name in schemas if name.endswith("Out") and name != "ErrorResponse"}
    assert responses <= covered, f"schemas without a model: {responses - covered}"


# method -> (input schema, keyword arguments that are not body fields)
INPUTS = {
    "create_entity": ("EntityInput", {"tenant_id"}),
    "update_entity": ("EntityUpdate", {"tenant_id", "entity_id", "entity_type"}),
    "record_interaction": ("InteractionInput", {"tenant_id"}),
    "create_interaction_type": ("InteractionTypeInput", {"tenant_id"}),
    "update_interaction_type": ("InteractionTypeUpdate", {"tenant_id", "interaction_type"}),
    "create_webhook": ("WebhookInput", {"tenant_id"}),
    "update_webhook": ("WebhookInput", {"tenant_id", "webhook_id"}),
    "put_tenant": ("TenantInput", {"tenant_id"}),
    "create_api_key": ("ApiKeyInput", set()),
    "create_experiment": ("ExperimentInput", {"tenant_id"}),
}


@pytest.mark.parametrize("method", sorted(INPUTS))
def test_method_arguments_match_the_request_schema(method: str, schemas: dict[str, Any]) -> None:
    schema_name, extra = INPUTS[method]
    for client in (RecommendationClient, AsyncRecommendationClient):
        params = set(inspect.signature(getattr(client, method)).parameters) - {"self"}
        fields = set(schemas[schema_name]["properties"])
        if "tenant_id" in extra:  # a body's tenant_id is what the client sends as X-Tenant-ID
            fields.discard("tenant_id")
        assert params - extra == fields, (client.__name__, method)


def test_model_status_matches_the_service(service: Service) -> None:
    # /model/status is a free object in the document: compare with a real answer.
    with RecommendationClient(service.url, api_key=service.api_key) as client:
        answer = client._http.get("/api/v1/model/status").json()
    assert {f.name for f in dataclasses.fields(models.ModelStatus)} == set(answer)


def test_sync_and_async_clients_have_the_same_methods() -> None:
    def public(cls: type) -> dict[str, list[str]]:
        return {
            name: list(inspect.signature(fn).parameters)
            for name, fn in inspect.getmembers(cls, callable)
            if not name.startswith("_") and name not in ("close", "aclose")
        }

    assert public(RecommendationClient) == public(AsyncRecommendationClient)


def test_sync_endpoints_are_generated_from_the_async_ones() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "unasync.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_sources_are_python_3_9_syntax() -> None:
    package = Path(recommendation_client.__file__).parent
    for path in package.glob("*.py"):
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))
