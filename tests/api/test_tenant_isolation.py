"""Tenant isolation: every /api/v1 route, called with another tenant's key and with
another tenant's ids, neither reveals nor changes anything of the tenant it targets,
its cached answers included."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from recommendation_engine.api.app import create_app
from recommendation_engine.config import (
    LimitSettings,
    RedisSettings,
    TenancySettings,
    WebhookSettings,
)
from tests.api.test_recommendations import rebuild
from tests.conftest import _truncate
from tests.support import (
    RedisServer,
    WebhookReceiver,
    answer,
    assert_error,
    client,
    make_settings,
    read_ndjson,
    serve,
)

VICTIM, INTRUDER = "acme", "globex"


@dataclass
class World:
    url: str
    database_url: str
    victim: httpx.Client  # acme's own key
    intruder: httpx.Client  # globex's own key
    victim_key: str
    intruder_key: str
    victim_hook: dict
    victim_delivery: int
    intruder_receiver: WebhookReceiver
    victim_experiment: str
    snapshot: dict[str, object] = field(default_factory=dict)


def snapshot(victim: httpx.Client) -> dict[str, object]:
    """Everything the victim tenant can read about itself."""
    return {
        "entities": read_ndjson(victim.get("/api/v1/entities/export")),
        "interactions": read_ndjson(victim.get("/api/v1/interactions/export")),
        "types": victim.get("/api/v1/interaction-types").json(),
        "model": {
            k: v
            for k, v in victim.get("/api/v1/model/status").json().items()
            if k in ("version", "users", "entities", "interactions")
        },
        "user": answer(victim.get("/api/v1/recommendations/user/u1")),
        "similar": answer(victim.get("/api/v1/recommendations/entity/p1")),
        "trending": answer(victim.get("/api/v1/recommendations/trending")),
        "experiments": victim.get("/api/v1/experiments").json(),
        "webhooks": victim.get("/api/v1/webhooks").json(),
        "deliveries": [
            victim.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()
            for hook in victim.get("/api/v1/webhooks").json()
        ],
    }


@pytest.fixture(scope="module")
def world(database_url: str, redis_server: RedisServer) -> Iterator[World]:
    _truncate(database_url)
    settings = make_settings(
        database_url,
        tenancy=TenancySettings(enable_multi_tenancy=True),
        redis=RedisSettings(url=redis_server.url),
        limits=LimitSettings(recommendation_cache_ttl_secs=300, rate_limit_enabled=False),
        webhooks=WebhookSettings(allow_private_targets=True),
    )
    with (
        WebhookReceiver() as victim_receiver,
        WebhookReceiver() as intruder_receiver,
        serve(settings) as url,
        client(url) as admin,
    ):
        keys = {}
        for tenant in (VICTIM, INTRUDER):
            created = admin.post("/api/v1/admin/api-keys", json={"tenant_id": tenant})
            keys[tenant] = created.json()["key"]
        with (
            client(url, api_key=keys[VICTIM]) as victim,
            client(url, api_key=keys[INTRUDER]) as intruder,
        ):
            hook = {"url": victim_receiver.url, "events": ["*"]}
            victim_hook = victim.post("/api/v1/webhooks", json=hook).json()
            intruder_hook = {"url": intruder_receiver.url, "events": ["*"]}
            intruder.post("/api/v1/webhooks", json=intruder_hook).raise_for_status()
            _fill(victim)
            intruder.post(
                "/api/v1/entities", json={"entity_id": "g1", "entity_type": "product"}
            ).raise_for_status()
            deliveries = _all_delivered(victim, victim_hook["id"])
            world = World(
                url,
                database_url,
                victim,
                intruder,
                keys[VICTIM],
                keys[INTRUDER],
                victim_hook,
                deliveries[0]["id"],
                intruder_receiver,
                _experiment(victim),
            )
            world.snapshot = snapshot(victim)  # also fills the victim's cache
            yield world
            # nothing of the victim's ever reached the intruder's receiver
            assert intruder_receiver.events()
            assert {e["tenant_id"] for e in intruder_receiver.events()} == {INTRUDER}


def _all_delivered(victim: httpx.Client, hook_id: str) -> list[dict]:
    deadline = time.monotonic() + 20
    while True:
        found = victim.get(f"/api/v1/webhooks/{hook_id}/deliveries").json()
        if found and all(d["status"] == "delivered" for d in found):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


def _fill(victim: httpx.Client) -> None:
    types = {"interaction_type": "wishlist", "default_weight": 2.0}
    victim.post("/api/v1/interaction-types", json=types).raise_for_status()
    for n in range(1, 5):
        victim.post(
            "/api/v1/entities",
            json={"entity_id": f"p{n}", "entity_type": "product", "attributes": {"c": "x"}},
        ).raise_for_status()
    for user in ("u1", "u2", "u3"):
        for item in ("p1", "p2", "p3"):
            victim.post(
                "/api/v1/interactions",
                json={"user_id": user, "entity_id": item, "interaction_type": "wishlist"},
            ).raise_for_status()
    rebuild(victim)


# The victim's users all get the collaborative algorithm: the intruder never asks for it.
EXPERIMENT = {
    "name": "all collaborative",
    "route": "user",
    "variants": [{"name": "cf", "share": 1.0, "overrides": {"algorithm": "collaborative"}}],
}


def _experiment(victim: httpx.Client) -> str:
    created = victim.post("/api/v1/experiments", json=EXPERIMENT).json()
    victim.post(f"/api/v1/experiments/{created['id']}/start").raise_for_status()
    return created["id"]


ENTITY = {"entity_id": "p1", "entity_type": "product", "attributes": {"c": "stolen"}}
INTERACTION = {"user_id": "u1", "entity_id": "p1", "interaction_type": "purchase"}


def _no_victim_items(body: dict, field: str = "recommendations") -> None:
    assert not {r["entity_id"] for r in body[field]} & {"p1", "p2", "p3", "p4"}


# What each route does when the intruder uses its own key on the victim's ids: it acts
# on the intruder's tenant, where those ids mean nothing (or something of its own).
Check = Callable[[httpx.Client, "World"], None]
ROUTES: dict[tuple[str, str], Check] = {
    ("POST", "/api/v1/entities"): lambda c, w: _created(c.post("/api/v1/entities", json=ENTITY)),
    ("POST", "/api/v1/entities/bulk"): lambda c, w: _bulk(
        c.post("/api/v1/entities/bulk", json={"entities": [ENTITY]})
    ),
    ("GET", "/api/v1/entities/export"): lambda c, w: _only_own(
        read_ndjson(c.get("/api/v1/entities/export"))
    ),
    ("GET", "/api/v1/entities/{entity_id}"): lambda c, w: _missing(c.get("/api/v1/entities/p2")),
    ("PUT", "/api/v1/entities/{entity_id}"): lambda c, w: _missing(
        c.put("/api/v1/entities/p2", json={"attributes": {"c": "stolen"}})
    ),
    ("DELETE", "/api/v1/entities/{entity_id}"): lambda c, w: _missing(
        c.delete("/api/v1/entities/p2")
    ),
    ("POST", "/api/v1/interactions"): lambda c, w: _missing(
        c.post("/api/v1/interactions", json={**INTERACTION, "entity_id": "p2"})
    ),
    ("POST", "/api/v1/interactions/bulk"): lambda c, w: _bulk_refused(
        c.post(
            "/api/v1/interactions/bulk", json={"interactions": [{**INTERACTION, "entity_id": "p2"}]}
        )
    ),
    ("GET", "/api/v1/interactions/export"): lambda c, w: _only_own(
        read_ndjson(c.get("/api/v1/interactions/export"))
    ),
    ("GET", "/api/v1/interactions/user/{user_id}"): lambda c, w: _empty(
        c.get("/api/v1/interactions/user/u2")
    ),
    ("GET", "/api/v1/interactions/entity/{entity_id}"): lambda c, w: _missing(
        c.get("/api/v1/interactions/entity/p2")
    ),
    ("POST", "/api/v1/interaction-types"): lambda c, w: _own_type(c),
    ("POST", "/api/v1/webhooks"): lambda c, w: _created(
        c.post("/api/v1/webhooks", json={"url": w.victim_hook["url"], "events": ["*"]})
    ),
    ("GET", "/api/v1/webhooks"): lambda c, w: _no_victim_hooks(c.get("/api/v1/webhooks"), w),
    ("GET", "/api/v1/webhooks/{webhook_id}"): lambda c, w: _missing(
        c.get(f"/api/v1/webhooks/{w.victim_hook['id']}")
    ),
    ("PUT", "/api/v1/webhooks/{webhook_id}"): lambda c, w: _missing(
        c.put(f"/api/v1/webhooks/{w.victim_hook['id']}", json=_hook_body(w))
    ),
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): lambda c, w: _missing(
        c.delete(f"/api/v1/webhooks/{w.victim_hook['id']}")
    ),
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): lambda c, w: _missing(
        c.get(f"/api/v1/webhooks/{w.victim_hook['id']}/deliveries")
    ),
    ("POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"): lambda c, w: _missing(
        c.post(f"/api/v1/webhooks/{w.victim_hook['id']}/deliveries/{w.victim_delivery}/retry")
    ),
    ("GET", "/api/v1/interaction-types"): lambda c, w: _types_without_victims(
        c.get("/api/v1/interaction-types")
    ),
    ("GET", "/api/v1/interaction-types/{interaction_type}"): lambda c, w: _missing(
        c.get("/api/v1/interaction-types/wishlist")
    ),
    ("PUT", "/api/v1/interaction-types/{interaction_type}"): lambda c, w: _missing(
        c.put("/api/v1/interaction-types/wishlist", json={"weight": 9})
    ),
    ("DELETE", "/api/v1/interaction-types/{interaction_type}"): lambda c, w: _missing(
        c.delete("/api/v1/interaction-types/wishlist")
    ),
    ("GET", "/api/v1/recommendations/user/{user_id}"): lambda c, w: _cold(
        c.get("/api/v1/recommendations/user/u1")
    ),
    ("GET", "/api/v1/recommendations/entity/{entity_id}"): lambda c, w: _missing(
        c.get("/api/v1/recommendations/entity/p2")
    ),
    ("GET", "/api/v1/recommendations/trending"): lambda c, w: _no_victim_items(
        c.get("/api/v1/recommendations/trending").json(), "trending"
    ),
    ("GET", "/api/v1/model/status"): lambda c, w: _no_model(c.get("/api/v1/model/status")),
    ("GET", "/api/v1/tenant"): lambda c, w: _own_tenant(c.get("/api/v1/tenant")),
    ("POST", "/api/v1/model/rebuild"): lambda c, w: _accepted(c.post("/api/v1/model/rebuild")),
    ("POST", "/api/v1/experiments"): lambda c, w: _created(
        c.post("/api/v1/experiments", json={**EXPERIMENT, "route": "similar"})
    ),
    ("GET", "/api/v1/experiments"): lambda c, w: _no_victim_experiment(
        c.get("/api/v1/experiments"), w
    ),
    ("GET", "/api/v1/experiments/{experiment_id}"): lambda c, w: _missing(
        c.get(f"/api/v1/experiments/{w.victim_experiment}")
    ),
    ("POST", "/api/v1/experiments/{experiment_id}/start"): lambda c, w: _missing(
        c.post(f"/api/v1/experiments/{w.victim_experiment}/start")
    ),
    ("POST", "/api/v1/experiments/{experiment_id}/stop"): lambda c, w: _missing(
        c.post(f"/api/v1/experiments/{w.victim_experiment}/stop")
    ),
    ("GET", "/api/v1/experiments/{experiment_id}/results"): lambda c, w: _missing(
        c.get(f"/api/v1/experiments/{w.victim_experiment}/results")
    ),
    ("GET", "/api/v1/evaluation/online"): lambda c, w: _no_victim_impressions(
        c.get("/api/v1/evaluation/online")
    ),
}


def _no_victim_experiment(response: httpx.Response, world: World) -> None:
    assert response.status_code == 200
    assert world.victim_experiment not in {e["id"] for e in response.json()}


def _no_victim_impressions(response: httpx.Response) -> None:
    assert response.status_code == 200
    assert "collaborative" not in {p["algorithm"] for p in response.json()["series"]}


def _created(response: httpx.Response) -> None:
    assert response.status_code == 201, response.text  # in the intruder's own tenant
    assert response.json().get("tenant_id", INTRUDER) == INTRUDER


def _hook_body(world: World) -> dict:
    return {"url": world.intruder_receiver.url, "events": ["*"], "secret": "x" * 20}


def _no_victim_hooks(response: httpx.Response, world: World) -> None:
    assert response.status_code == 200
    assert world.victim_hook["id"] not in {h["id"] for h in response.json()}


def _own_type(intruder: httpx.Client) -> None:
    """The intruder may have a type of the same name; it is its own, and goes again."""
    body = {"interaction_type": "wishlist", "default_weight": 9}
    _created(intruder.post("/api/v1/interaction-types", json=body))
    assert intruder.delete("/api/v1/interaction-types/wishlist").status_code == 204


def _bulk(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text


def _bulk_refused(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json()["failed"] == 1 and response.json()["created"] == 0


def _only_own(records: list[dict]) -> None:
    assert all(r["tenant_id"] == INTRUDER for r in records)
    assert not any(r.get("user_id") in ("u2", "u3") for r in records)


def _missing(response: httpx.Response) -> None:
    assert_error(response, 404, "not_found")


def _empty(response: httpx.Response) -> None:
    assert response.status_code == 200 and response.json() == []


def _types_without_victims(response: httpx.Response) -> None:
    assert response.status_code == 200
    assert "wishlist" not in {t["interaction_type"] for t in response.json()}


def _cold(response: httpx.Response) -> None:
    body = response.json()
    assert response.headers["x-cache"] == "computed"  # never the victim's cached answer
    assert body["model_version"] is None
    _no_victim_items(body)


def _own_tenant(response: httpx.Response) -> None:
    assert response.status_code == 200 and response.json()["tenant_id"] == INTRUDER


def _no_model(response: httpx.Response) -> None:
    assert response.json()["state"] == "none"


def _accepted(response: httpx.Response) -> None:
    assert response.status_code == 202


def test_the_suite_covers_every_tenant_route(database_url: str) -> None:
    app = create_app(make_settings(database_url))
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/v1/")
        for method in operations
    }
    tenant_routes = {r for r in routes if not r[1].startswith("/api/v1/admin/")}
    assert tenant_routes == set(ROUTES)


def _call(
    method: str, template: str, world: World, http: httpx.Client, **headers: str
) -> httpx.Response:
    path = (
        template.replace("{entity_id}", "p1")
        .replace("{user_id}", "u1")
        .replace("{interaction_type}", "wishlist")
        .replace("{webhook_id}", world.victim_hook["id"])
        .replace("{delivery_id}", str(world.victim_delivery))
        .replace("{experiment_id}", world.victim_experiment)
    )
    body = {
        "/api/v1/entities": ENTITY,
        "/api/v1/entities/bulk": {"entities": [ENTITY]},
        "/api/v1/entities/{entity_id}": {"attributes": {"c": "stolen"}},
        "/api/v1/interactions": INTERACTION,
        "/api/v1/interactions/bulk": {"interactions": [INTERACTION]},
        "/api/v1/interaction-types": {"interaction_type": "wishlist", "default_weight": 9},
        "/api/v1/interaction-types/{interaction_type}": {"weight": 9},
        "/api/v1/webhooks": _hook_body(world),
        "/api/v1/webhooks/{webhook_id}": _hook_body(world),
        "/api/v1/experiments": EXPERIMENT,
    }.get(template)
    return http.request(
        method, path, json=body if method in ("POST", "PUT") else None, headers=headers
    )


@pytest.mark.parametrize(("method", "template"), sorted(ROUTES))
def test_another_tenants_key_naming_the_victim_is_refused(
    world: World, method: str, template: str
) -> None:
    response = _call(method, template, world, world.intruder, **{"X-Tenant-ID": VICTIM})
    assert_error(response, 403, "forbidden")
    assert snapshot(world.victim) == world.snapshot


@pytest.mark.parametrize(("method", "template"), sorted(ROUTES))
def test_another_tenants_key_on_the_victims_ids_reaches_nothing(
    world: World, method: str, template: str
) -> None:
    ROUTES[(method, template)](world.intruder, world)
    assert snapshot(world.victim) == world.snapshot


def test_the_victims_cached_answers_survive_the_intruders_writes(world: World) -> None:
    user = world.victim.get("/api/v1/recommendations/user/u1")
    assert user.headers["x-cache"] in ("memory", "redis")
    with client(world.url, api_key=world.intruder_key) as intruder:
        intruder.post(
            "/api/v1/interactions",
            json={"user_id": "u1", "entity_id": "g1", "interaction_type": "view"},
        ).raise_for_status()
        intruder.put("/api/v1/interaction-types/view", json={"weight": 7}).raise_for_status()
    again = world.victim.get("/api/v1/recommendations/user/u1")
    assert again.headers["x-cache"] in ("memory", "redis") and answer(again) == answer(user)


def test_tenant_keys_cannot_use_administrator_routes(world: World) -> None:
    for method, path in (
        ("GET", "/api/v1/admin/tenants"),
        ("PUT", f"/api/v1/admin/tenants/{VICTIM}"),
        ("DELETE", f"/api/v1/admin/tenants/{VICTIM}"),
        ("GET", "/api/v1/admin/api-keys"),
        ("POST", "/api/v1/admin/api-keys"),
    ):
        assert_error(world.intruder.request(method, path, json={}), 403, "forbidden")
    assert snapshot(world.victim) == world.snapshot
