"""Checking the signature of the service's webhook requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Mapping, Optional, Union

from .errors import WebhookVerificationError
from .models import WebhookEvent

__all__ = ["verify_webhook", "sign_webhook"]


def sign_webhook(body: Union[bytes, str], secret: str, timestamp: int) -> str:
    """The ``X-Webhook-Signature`` value for ``body`` sent at ``timestamp``:
    ``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return "sha256=" + digest


def verify_webhook(
    body: Union[bytes, str],
    headers: Mapping[str, str],
    secret: str,
    tolerance: int = 300,
    *,
    now: Optional[float] = None,
) -> WebhookEvent:
    """Check a webhook request and return its event.

    ``body``: the raw request body, exactly as received; ``headers``: its headers (any
    mapping; names are matched without regard to case); ``secret``: the subscription's
    secret; ``tolerance``: how many seconds the ``X-Webhook-Timestamp`` may differ from
    now. Raises ``WebhookVerificationError`` on a missing or wrong signature, a
    missing, malformed or stale timestamp, or a body that is not an event.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("x-webhook-timestamp")
    signature = lowered.get("x-webhook-signature")
    if not timestamp or not signature:
        raise WebhookVerificationError(
            "missing X-Webhook-Timestamp or X-Webhook-Signature", code="missing_signature"
        )
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("malformed X-Webhook-Timestamp", code="bad_timestamp") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        raise WebhookVerificationError(
            f"timestamp {sent_at} is more than {tolerance} s from now", code="stale_timestamp",
            details={"timestamp": sent_at, "tolerance": tolerance},
        )
    if not hmac.compare_digest(signature.strip(), sign_webhook(body, secret, sent_at)):
        raise WebhookVerificationError("signature does not match", code="bad_signature")
    try:
        data = json.loads(body)
    except ValueError:
        raise WebhookVerificationError("body is not JSON", code="bad_body") from None
    if not isinstance(data, dict):
        raise WebhookVerificationError("body is not an event object", code="bad_body")
    return WebhookEvent.from_dict(data)
