"""verify_webhook: good, wrongly signed, stale and malformed requests."""

from __future__ import annotations

import json
import time

import pytest

from recommendation_client import WebhookVerificationError, sign_webhook, verify_webhook

SECRET = "a-secret-of-sixteen-chars"
BODY = json.dumps({"id": 42, "event": "entity.created", "tenant_id": "acme",
                   "created_at": "2026-11-27T10:00:00Z", "data": {"entities": []}}).encode()


def headers(timestamp: int, body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    return {"X-Webhook-Timestamp": str(timestamp), "X-Webhook-Signature": sign_webhook(body, secret, timestamp),
            "X-Webhook-Event": "entity.created"}


def test_signature_format_is_the_services() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign_webhook(BODY, SECRET, 1700000000) == "sha256=" + expected


def test_good_request_gives_the_event() -> None:
    now = int(time.time())
    event = verify_webhook(BODY, headers(now), SECRET)
    assert (event.id, event.event, event.tenant_id, event.data) == (42, "entity.created", "acme", {"entities": []})
    lower = {k.lower(): v for k, v in headers(now).items()}
    assert verify_webhook(BODY.decode(), lower, SECRET).id == 42


@pytest.mark.parametrize(
    "body, hdrs, code",
    [
        (BODY, lambda now: headers(now, secret="another-secret-16chars"), "bad_signature"),
        (BODY + b" ", lambda now: headers(now), "bad_signature"),
        (BODY, lambda now: {**headers(now), "X-Webhook-Signature": "deadbeef"}, "bad_signature"),
        (BODY, lambda now: headers(now - 301), "stale_timestamp"),
        (BODY, lambda now: headers(now + 400), "stale_timestamp"),
        (BODY, lambda now: {"X-Webhook-Timestamp": str(now)}, "missing_signature"),
        (BODY, lambda now: {**headers(now), "X-Webhook-Timestamp": "soon"}, "bad_timestamp"),
    ],
)
def test_bad_requests_are_refused(body: bytes, hdrs: object, code: str) -> None:
    now = int(time.time())
    with pytest.raises(WebhookVerificationError) as caught:
        verify_webhook(body, hdrs(now), SECRET)  # type: ignore[operator]
    assert caught.value.code == code


def test_tolerance_is_configurable() -> None:
    old = int(time.time()) - 1000
    assert verify_webhook(BODY, headers(old), SECRET, tolerance=2000).id == 42
