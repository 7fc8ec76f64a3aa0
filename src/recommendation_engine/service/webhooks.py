"""Webhook subscriptions of a tenant, the targets they may point at, and their deliveries."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from recommendation_engine.errors import NotFound, ValidationFailed
from recommendation_engine.models import WEBHOOK_EVENTS, WebhookInput
from recommendation_engine.storage import webhooks as repo

SECRET_PREFIX = "whsec_"


class TargetRefused(Exception):
    """A webhook URL that must not be called."""


REFUSED = (
    "the target is not allowed: a webhook URL must be http:// or https:// and its host "
    "must resolve to public addresses only (WEBHOOK_ALLOW_PRIVATE_TARGETS=true allows "
    "private ones)"
)


@dataclass(frozen=True, slots=True)
class Target:
    """A checked webhook URL and the address it was checked at (None when private
    targets are allowed and nothing was checked); deliveries connect to that address,
    so a name that resolves elsewhere a moment later (DNS rebinding) changes nothing."""

    url: str
    address: str | None = None

    def request_url(self) -> str:
        """The URL to connect to: the checked address in place of the host name."""
        if self.address is None:
            return self.url
        parts = urlsplit(self.url)
        host = f"[{self.address}]" if ":" in self.address else self.address
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc))

    def host_header(self) -> str | None:
        """The Host header the receiver expects, when the URL names an address instead."""
        return urlsplit(self.url).netloc.rsplit("@", 1)[-1] if self.address else None

    def tls_name(self) -> str | None:
        """The name the receiver's certificate is checked against (and sent as SNI)."""
        parts = urlsplit(self.url)
        return parts.hostname if self.address and parts.scheme == "https" else None


async def check_target(url: str, allow_private: bool) -> Target:
    """Refuse URLs that are not http(s), do not resolve, or (unless ``allow_private``)
    resolve to a loopback, private, link-local or otherwise non-public address, so a
    webhook cannot be aimed at the service's own network. The refusal does not say
    which, nor what the name resolves to."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:  # a malformed address or port
        raise TargetRefused(REFUSED) from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(REFUSED)
    if allow_private:
        return Target(url)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM
        )
    except OSError as error:
        raise TargetRefused(REFUSED) from error
    addresses = []
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not ip.is_global or ip.is_multicast:
            raise TargetRefused(REFUSED)
        addresses.append(str(ip))
    if not addresses:
        raise TargetRefused(REFUSED)
    return Target(url, addresses[0])


class WebhookService:
    def __init__(self, pool: asyncpg.Pool, allow_private_targets: bool) -> None:
        self._pool = pool
        self._allow_private = allow_private_targets

    async def _checked(self, body: WebhookInput) -> str:
        try:
            await check_target(body.url, self._allow_private)
        except TargetRefused as error:
            raise ValidationFailed(str(error), {"field": "url", "url": body.url}) from error
        return body.url

    async def create(self, tenant_id: str, body: WebhookInput) -> dict[str, Any]:
        url = await self._checked(body)
        secret = body.secret or SECRET_PREFIX + secrets.token_urlsafe(32)
        async with self._pool.acquire() as conn:
            row = await repo.insert(
                conn, tenant_id, url, _events(body), secret, body.active, body.description
            )
        return {**_view(row), "secret": secret}

    async def update(self, tenant_id: str, webhook_id: str, body: WebhookInput) -> dict[str, Any]:
        url = await self._checked(body)
        async with self._pool.acquire() as conn:
            row = await repo.update(
                conn,
                tenant_id,
                webhook_id,
                url,
                _events(body),
                body.secret,
                body.active,
                body.description,
            )
        if row is None:
            raise _not_found(webhook_id)
        return _view(row)

    async def get(self, tenant_id: str, webhook_id: str) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            row = await repo.get(conn, tenant_id, webhook_id)
        if row is None:
            raise _not_found(webhook_id)
        return _view(row)

    async def list_all(self, tenant_id: str) -> list[dict[str, Any]]:
        async with self._pool.acquire() as conn:
            return [_view(row) for row in await repo.list_all(conn, tenant_id)]

    async def delete(self, tenant_id: str, webhook_id: str) -> None:
        async with self._pool.acquire() as conn:
            if not await repo.delete(conn, tenant_id, webhook_id):
                raise _not_found(webhook_id)

    async def deliveries(
        self, tenant_id: str, webhook_id: str, status: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        async with self._pool.acquire() as conn:
            if await repo.get(conn, tenant_id, webhook_id) is None:
                raise _not_found(webhook_id)
            rows = await repo.list_deliveries(conn, tenant_id, webhook_id, status, limit, offset)
        return [_delivery(row) for row in rows]

    async def redeliver(self, tenant_id: str, webhook_id: str, delivery_id: int) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            row = await repo.redeliver(conn, tenant_id, webhook_id, delivery_id)
        if row is None:
            raise NotFound(
                f"webhook '{webhook_id}' has no delivery {delivery_id}",
                {"webhook_id": webhook_id, "delivery_id": delivery_id},
            )
        return _delivery(row)


def _events(body: WebhookInput) -> list[str]:
    return sorted(set(WEBHOOK_EVENTS if "*" in body.events else body.events))


def _not_found(webhook_id: str) -> NotFound:
    return NotFound(f"webhook '{webhook_id}' does not exist", {"webhook_id": webhook_id})


def _view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["webhook_id"],
        "url": row["url"],
        "events": list(row["events"]),
        "active": row["active"],
        "description": row["description"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _delivery(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["delivery_id"],
        "event_id": row["event_id"],
        "event": row["event"],
        "status": row["status"],
        "attempts": row["attempts"],
        "response_status": row["response_status"],
        "error": row["error"],
        "created_at": row["created_at"],
        "last_attempt_at": row["last_attempt_at"],
        "next_attempt_at": row["next_attempt_at"] if row["status"] == "pending" else None,
        "delivered_at": row["delivered_at"],
    }
