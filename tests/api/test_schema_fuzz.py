"""Schema fuzzing: every operation of the OpenAPI document, called with requests the
schema allows and requests it forbids (generated from a fixed seed, a bounded number per
operation), single-tenant and multi-tenant. Every check must hold: no server error, only
documented statuses, content types and headers, responses that match their schemas,
valid requests accepted and invalid ones refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from recommendation_engine.api.app import create_app
from recommendation_engine.config import TenancySettings, WebhookSettings
from tests.support import API_KEY, client, make_settings, serve

EXAMPLES = 30
TENANT = "fuzzed"

# Requests the document cannot tell apart from valid ones, because what makes them
# wrong is the tenant's data or settings, not their shape: each is refused with the
# documented status and this reason, and is then held to every other check.
REFUSED_FOR_STATE = {
    "POST /api/v1/interactions": (422, "unknown interaction type"),
    "PUT /api/v1/admin/tenants/{tenant_id}": (422, "cannot"),  # both weights 0; default > max
    "GET /api/v1/recommendations/user/{user_id}": (400, ""),  # count > max; both weights 0
    "GET /api/v1/recommendations/entity/{entity_id}": (400, "count must be at most"),
    "GET /api/v1/recommendations/trending": (400, "count must be at most"),
    # shares above 1 in all, repeated or reserved names, a type counted twice, unknown
    # types, a count above the tenant's maximum, both weights 0
    "POST /api/v1/experiments": (
        422,
        (
            "shares must add up",
            "names must be distinct",
            "no variant may be named",
            "cannot count as both",
            "unknown interaction types",
            "must be at most",
            "cannot both be 0",
        ),
    ),
    "GET /api/v1/evaluation/online": (
        422,
        ("cannot count as both", "click_types and conversion_types must be"),
    ),
}
# Any route acting in a tenant: naming a tenant other than the default one without
# multi-tenancy, or different tenants in the header, the query and the body.
TENANT_REFUSALS = (400, ("multi-tenancy is disabled", "names different tenants"))


@pytest.fixture(scope="module", params=["single tenant", "multi tenant"])
def fuzzed_service(request: pytest.FixtureRequest, database_url: str) -> Iterator[dict]:
    """A running service and the headers each request carries: the administrator's key,
    or, with multi-tenancy, a tenant's own key. Webhook targets are not resolved (no
    name resolves here): the target rules have tests of their own."""
    multi = request.param == "multi tenant"
    settings_ = make_settings(
        database_url,
        tenancy=TenancySettings(enable_multi_tenancy=multi),
        webhooks=WebhookSettings(allow_private_targets=True),
    )
    with serve(settings_) as url:
        headers = {"X-API-Key": API_KEY}
        if multi:
            with client(url) as admin:
                assert admin.put(f"/api/v1/admin/tenants/{TENANT}", json={}).is_success
                key = admin.post("/api/v1/admin/api-keys", json={"tenant_id": TENANT})
                # the key names the tenant; X-Tenant-ID is left to the fuzzer
                headers = {"X-API-Key": key.json()["key"]}
        yield {"url": url, "headers": headers}


def _schema() -> schemathesis.BaseSchema:
    """The OpenAPI document the service serves at /api/docs (built without starting it)."""
    document = create_app(make_settings("postgresql://unused")).openapi()
    loaded = schemathesis.openapi.from_dict(document)
    loaded.config.generation.update(
        modes=list(schemathesis.GenerationMode),
        max_examples=EXAMPLES,
        deterministic=True,
        # Free-form JSON (attributes, metadata) cannot say in a schema that its text holds
        # no NUL character; the rule is documented and tested in test_bad_input.
        allow_x00=False,
    )
    return loaded


schema = _schema()
schemathesis.checks.load_all_checks()
ALL_CHECKS = schemathesis.checks.CHECKS.get_all()
INT64 = 2**63


@schema.hook
def map_body(_: object, body: object) -> object:
    """Integers within 64 bits: free-form JSON cannot say so in a schema either (the
    rule is documented, and tested in test_bad_input)."""
    if isinstance(body, dict):
        return {key: map_body(_, value) for key, value in body.items()}
    if isinstance(body, list):
        return [map_body(_, value) for value in body]
    if isinstance(body, int) and not isinstance(body, bool):
        return max(-INT64, min(INT64 - 1, body))
    return body


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, fuzzed_service: dict
) -> None:
    response = case.call(base_url=fuzzed_service["url"], headers=fuzzed_service["headers"])
    excluded = []
    refused = REFUSED_FOR_STATE.get(case.operation.label)
    message = response.json()["error"]["message"] if response.status_code >= 400 else ""
    reasons = (
        () if refused is None else (refused[1],) if isinstance(refused[1], str) else refused[1]
    )
    if (
        refused is not None
        and response.status_code == refused[0]
        and any(reason in message for reason in reasons)
    ) or (
        response.status_code == TENANT_REFUSALS[0]
        and any(reason in message for reason in TENANT_REFUSALS[1])
    ):
        excluded.append(schemathesis.checks.positive_data_acceptance)
    case.validate_response(
        response,
        headers=fuzzed_service["headers"],
        checks=[check for check in ALL_CHECKS if check not in excluded],
    )
