"""Webhook deliveries retried with backoff, given up, sent again by hand, and none lost
across restarts.

Each test runs apps of its own settings over the shared database, and no other app may
take deliveries meanwhile: every running app's dispatcher takes due deliveries from the
database, so this module has no app of its own that would outlive a test.
"""

from __future__ import annotations

import httpx

from recommendation_engine.config import WebhookSettings
from tests.api.test_webhooks import FAST, HOOKS, deliveries, subscribe, wait_for_deliveries
from tests.support import (
    WebhookReceiver,
    assert_error,
    client,
    fetch,
    free_port,
    make_entity,
    make_settings,
    serve,
)


def test_a_failing_receiver_is_retried_with_backoff_then_given_up(
    database_url: str, clean_db: str, receiver: WebhookReceiver
) -> None:
    settings = make_settings(
        database_url,
        webhooks=WebhookSettings(
            allow_private_targets=True, retry_base_secs=0.1, retry_max_secs=0.4, max_attempts=3
        ),
    )
    with serve(settings) as url, client(url) as api:
        hook = subscribe(api, receiver.url, ["entity.created"])
        receiver.statuses = [500, 503]
        make_entity(api, "m1", "movie")
        log = wait_for_deliveries(api, hook, lambda d: d and d[0]["status"] == "delivered")
        assert log[0]["attempts"] == 3 and log[0]["response_status"] == 200
        assert [r["status"] for r in receiver.received] == [500, 503, 200]
        assert len({r["headers"]["X-Webhook-Id"] for r in receiver.received}) == 1

        receiver.statuses = [500, 500, 500]
        make_entity(api, "m2", "movie")
        log = wait_for_deliveries(api, hook, lambda d: len(d) == 2 and d[0]["status"] == "failed")
        failed = log[0]
        assert failed["attempts"] == 3 and failed["response_status"] == 500
        assert "500" in failed["error"] and failed["next_attempt_at"] is None

        # a failed delivery can be sent again by hand
        again = api.post(f"{HOOKS}/{hook['id']}/deliveries/{failed['id']}/retry")
        assert again.status_code == 202 and again.json()["status"] == "pending"
        log = wait_for_deliveries(api, hook, lambda d: d[0]["status"] == "delivered")
        assert log[0]["attempts"] == 1
        assert deliveries(api, hook, status="failed") == []
        missing = api.post(f"{HOOKS}/{hook['id']}/deliveries/999999/retry")
        assert_error(missing, 404, "not_found")
        metrics = httpx.get(f"{url}/metrics").text
        assert 'webhook_deliveries_total{outcome="retrying"}' in metrics
        assert 'webhook_deliveries_total{outcome="failed"}' in metrics


def test_no_event_is_lost_across_a_restart(database_url: str, clean_db: str) -> None:
    port = free_port()
    target = f"http://127.0.0.1:{port}/hook"
    settings = make_settings(database_url, webhooks=FAST)
    # The receiver is down while the first instance runs: every attempt fails.
    with serve(settings) as url, client(url) as api:
        hook = subscribe(api, target, ["interaction.recorded", "entity.created"])
        make_entity(api, "m1", "movie")
        for user in ("u1", "u2", "u3"):
            api.post(
                "/api/v1/interactions",
                json={"user_id": user, "entity_id": "m1", "interaction_type": "view"},
            ).raise_for_status()
        wait_for_deliveries(api, hook, lambda d: d and all(x["attempts"] >= 1 for x in d))
    pending = fetch(clean_db, "SELECT status FROM webhook_deliveries")
    assert pending and {row["status"] for row in pending} == {"pending"}

    # The receiver is up but stalls, and the second instance stops mid-delivery.
    with WebhookReceiver(port) as receiver:
        receiver.hold.clear()
        with serve(settings):
            assert receiver.arrived.wait(10)
        receiver.hold.set()
        # The third instance delivers everything.
        with serve(settings):
            receiver.wait_for(
                lambda events: (
                    {
                        u["user_id"]
                        for e in events
                        if e["event"] == "interaction.recorded"
                        for u in e["data"]["interactions"]
                    }
                    == {"u1", "u2", "u3"}
                    and any(e["event"] == "entity.created" for e in events)
                )
            )
    delivered = fetch(clean_db, "SELECT status FROM webhook_deliveries")
    assert {row["status"] for row in delivered} == {"delivered"}
