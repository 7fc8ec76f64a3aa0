"""Webhooks: subscriptions, signed deliveries of every event, the delivery log, refused
targets and a receiver that stalls (retries and restarts: test_webhook_retries)."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from recommendation_engine.config import WebhookSettings
from tests.api.test_recommendations import rebuild
from tests.support import (
    WebhookReceiver,
    assert_error,
    client,
    count,
    fetch,
    make_entity,
    make_settings,
    serve,
)

HOOKS = "/api/v1/webhooks"
FAST = WebhookSettings(allow_private_targets=True, retry_base_secs=0.05, retry_max_secs=0.2)


@pytest.fixture(scope="module")
def hook_url(database_url: str) -> Iterator[str]:
    with serve(make_settings(database_url, webhooks=FAST)) as url:
        yield url


@pytest.fixture
def api(hook_url: str, clean_db: str) -> Iterator[httpx.Client]:
    with client(hook_url) as http:
        yield http


def subscribe(api: httpx.Client, url: str, events: list[str], **fields: object) -> dict:
    response = api.post(HOOKS, json={"url": url, "events": events, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(api: httpx.Client, hook: dict, **params: str) -> list[dict]:
    response = api.get(f"{HOOKS}/{hook['id']}/deliveries", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_deliveries(api: httpx.Client, hook: dict, check, seconds: float = 20) -> list[dict]:
    deadline = time.monotonic() + seconds
    while not check(found := deliveries(api, hook)):
        assert time.monotonic() < deadline, found
        time.sleep(0.05)
    return found


def test_subscriptions_are_created_listed_replaced_and_deleted(
    api: httpx.Client, clean_db: str
) -> None:
    hook = subscribe(api, "http://127.0.0.1:9/hook", ["entity.created", "model.updated"])
    assert hook["secret"].startswith("whsec_") and hook["active"] is True
    assert hook["events"] == ["entity.created", "model.updated"]
    listed = api.get(HOOKS).json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]

    replaced = api.put(
        f"{HOOKS}/{hook['id']}",
        json={"url": "http://127.0.0.1:9/other", "events": ["*"], "active": False},
    )
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert body["url"] == "http://127.0.0.1:9/other" and body["active"] is False
    assert len(body["events"]) == 5 and "interaction.recorded" in body["events"]
    stored = fetch(clean_db, "SELECT secret FROM webhooks")
    assert stored == [{"secret": hook["secret"]}]  # kept when the PUT has none

    assert api.delete(f"{HOOKS}/{hook['id']}").status_code == 204
    assert_error(api.get(f"{HOOKS}/{hook['id']}"), 404, "not_found")
    assert_error(api.delete(f"{HOOKS}/{hook['id']}"), 404, "not_found")
    assert_error(api.get(f"{HOOKS}/not-a-uuid"), 422, "validation_error")


def test_invalid_subscriptions_are_refused(api: httpx.Client, clean_db: str) -> None:
    for body in (
        {"url": "ftp://example.com/hook", "events": ["entity.created"]},
        {"url": "not a url", "events": ["entity.created"]},
        {"url": "http://127.0.0.1:9/hook", "events": []},
        {"url": "http://127.0.0.1:9/hook", "events": ["entity.exploded"]},
        {"url": "http://127.0.0.1:9/hook", "events": ["*"], "secret": "short"},
        {"url": "http://127.0.0.1:9/hook", "events": ["*"], "colour": "red"},
    ):
        assert_error(api.post(HOOKS, json=body), 422, "validation_error")
    assert count(clean_db, "webhooks") == 0


def test_private_and_loopback_targets_are_refused_by_default(
    database_url: str, clean_db: str
) -> None:
    with serve(make_settings(database_url)) as url, client(url) as api:
        for target in (
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
            "http://10.1.2.3/hook",
            "http://192.168.0.10/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://0.0.0.0/hook",
        ):
            error = assert_error(
                api.post(HOOKS, json={"url": target, "events": ["*"]}), 422, "validation_error"
            )
            assert "WEBHOOK_ALLOW_PRIVATE_TARGETS" in error["message"], target
            # Nothing tells what a name resolves to, nor whether it resolves at all.
            assert "127.0.0.1" not in str(error) or "127.0.0.1" in target
        unknown = api.post(HOOKS, json={"url": "http://no-such-host.invalid/", "events": ["*"]})
        private = api.post(HOOKS, json={"url": "http://localhost/hook", "events": ["*"]})
        assert unknown.json()["error"]["message"] == private.json()["error"]["message"]
        assert count(clean_db, "webhooks") == 0
        public = api.post(HOOKS, json={"url": "https://93.184.215.14/hook", "events": ["*"]})
        assert public.status_code == 201, public.text


def verify(secret: str, request: dict) -> None:
    """What a receiver does: recompute the signature over "<timestamp>.<body>"."""
    headers = {k.lower(): v for k, v in request["headers"].items()}
    timestamp = headers["x-webhook-timestamp"]
    assert abs(time.time() - int(timestamp)) < 60
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256)
    assert hmac.compare_digest(headers["x-webhook-signature"], "sha256=" + expected.hexdigest())


def test_every_event_is_delivered_signed_and_logged(
    api: httpx.Client, receiver: WebhookReceiver
) -> None:
    hook = subscribe(api, receiver.url, ["*"], secret="a-shared-secret-of-ours")
    make_entity(api, "m1", "movie", genre="drama")
    make_entity(api, "m2", "movie", genre="comedy")
    api.put("/api/v1/entities/m1", json={"attributes": {"genre": "noir"}}).raise_for_status()
    api.post(
        "/api/v1/interactions",
        json={"user_id": "u1", "entity_id": "m1", "interaction_type": "view"},
    ).raise_for_status()
    rows = [
        {"user_id": f"u{n}", "entity_id": "m2", "interaction_type": "like"} for n in range(3)
    ] + [
        {
            "user_id": "u9",
            "entity_id": "missing",
            "entity_type": "movie",
            "interaction_type": "view",
        }
    ]
    assert api.post("/api/v1/interactions/bulk", json={"interactions": rows}).json()["created"] == 3
    api.post(
        "/api/v1/entities/bulk",
        json={
            "entities": [
                {"entity_id": "m3", "entity_type": "movie"},
                {"entity_id": "m2", "entity_type": "movie", "attributes": {"genre": "drama"}},
            ]
        },
    ).raise_for_status()
    rebuild(api)
    assert api.delete("/api/v1/entities/m3").status_code == 204

    receiver.wait_for(lambda events: any(e["event"] == "entity.deleted" for e in events))
    receiver.wait_for(lambda events: len(events) == 9)
    for request in receiver.received:
        verify("a-shared-secret-of-ours", request)
    events = {}
    for event in sorted(receiver.events(), key=lambda e: e["id"]):  # may arrive out of order
        events.setdefault(event["event"], []).append(event)
        assert event["tenant_id"] == "default" and isinstance(event["id"], int)
    created = [e["data"]["entities"] for e in events["entity.created"]]
    assert created[:2] == [
        [{"entity_type": "movie", "entity_id": "m1", "attributes": {"genre": "drama"}}],
        [{"entity_type": "movie", "entity_id": "m2", "attributes": {"genre": "comedy"}}],
    ]
    assert created[2] == [{"entity_type": "movie", "entity_id": "m3", "attributes": {}}]
    updated = [e["data"]["entities"][0] for e in events["entity.updated"]]
    assert updated == [
        {"entity_type": "movie", "entity_id": "m1", "attributes": {"genre": "noir"}},
        {"entity_type": "movie", "entity_id": "m2", "attributes": {"genre": "drama"}},
    ]
    recorded = [e["data"]["interactions"] for e in events["interaction.recorded"]]
    assert [[(i["user_id"], i["entity_id"]) for i in batch] for batch in recorded] == [
        [("u1", "m1")],
        [("u0", "m2"), ("u1", "m2"), ("u2", "m2")],  # one event for the bulk request
    ]
    # single and bulk interactions give their time the same way
    times = [i["timestamp"] for batch in recorded for i in batch]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", t) for t in times), times
    (model,) = events["model.updated"]
    assert model["data"]["version"] == api.get("/api/v1/model/status").json()["version"]
    assert model["data"]["users"] == 3 and model["data"]["incremental"] is False
    assert events["entity.deleted"][0]["data"] == {
        "entities": [{"entity_type": "movie", "entity_id": "m3"}]
    }

    log = wait_for_deliveries(api, hook, lambda d: all(x["status"] == "delivered" for x in d))
    assert len(log) == 9 and all(d["attempts"] == 1 and d["response_status"] == 200 for d in log)
    assert log[0]["event"] == "entity.deleted"  # newest first
    metrics = api.get("/metrics").text
    assert 'webhook_deliveries_total{outcome="delivered"}' in metrics


def test_only_subscribed_events_of_active_webhooks_are_queued(
    api: httpx.Client, receiver: WebhookReceiver, clean_db: str
) -> None:
    wanted = subscribe(api, receiver.url, ["entity.deleted"])
    subscribe(api, receiver.url, ["*"], active=False)
    make_entity(api, "m1", "movie")
    assert api.delete("/api/v1/entities/m1").status_code == 204
    receiver.wait_for(lambda events: len(events) == 1)
    assert receiver.events()[0]["event"] == "entity.deleted"
    assert [d["event"] for d in deliveries(api, wanted)] == ["entity.deleted"]
    assert count(clean_db, "webhook_deliveries") == 1


def test_a_stalled_receiver_does_not_hold_up_writes(
    api: httpx.Client, receiver: WebhookReceiver
) -> None:
    subscribe(api, receiver.url, ["entity.created"])
    receiver.hold.clear()  # the receiver takes requests but does not answer
    make_entity(api, "m0", "movie")
    assert receiver.arrived.wait(10)
    for n in range(1, 20):
        make_entity(api, f"m{n}", "movie")  # each acknowledged while the receiver stalls
    assert receiver.received == []
    receiver.hold.set()
    receiver.wait_for(lambda events: len(events) == 20)
    assert sorted(e["data"]["entities"][0]["entity_id"] for e in receiver.events()) == sorted(
        f"m{n}" for n in range(20)
    )
