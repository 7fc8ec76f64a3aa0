"""Webhook events: written to the outbox with the change they report, then delivered,
signed, by a dispatcher every process runs, with retries and a delivery log."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import orjson

from recommendation_engine import __version__, metrics
from recommendation_engine.config import WebhookSettings
from recommendation_engine.service.background import PeriodicJob
from recommendation_engine.service.webhooks import TargetRefused, check_target
from recommendation_engine.storage import webhooks as repo

logger = logging.getLogger(__name__)

# Items per event: a bulk import of 10,000 rows is announced in events of this many.
ITEMS_PER_EVENT = 1000
POLL_SECONDS = 1.0
PRUNE_SECONDS = 3600.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Webhook-Signature of a delivery: HMAC-SHA256 of "<timestamp>.<body>"."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class Outbox:
    """Writes events inside the caller's transaction, only for tenants that have an
    active subscription to them, and wakes this process's dispatcher afterwards. (Single
    writes on hot paths queue their events in their own statement instead; see
    storage.webhooks.announcing.)"""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []
        self._written = False

    def on_written(self, wake: Callable[[], None]) -> None:
        """Have ``wake`` called whenever events written in this process are committed."""
        self._listeners.append(wake)

    async def wanted(
        self, conn: asyncpg.Connection, tenant_ids: Iterable[str], event: str
    ) -> set[str]:
        """Those of ``tenant_ids`` with an active subscription to ``event``."""
        return {t for t, e in await repo.subscribed(conn, tenant_ids) if e == event}

    async def add(
        self, conn: asyncpg.Connection, tenant_id: str, event: str, data: dict[str, Any]
    ) -> None:
        if await repo.add_event(conn, tenant_id, event, data):
            self._written = True

    def note_written(self) -> None:
        """Events were written by a statement of their own (see storage.webhooks)."""
        self._written = True

    async def add_items(
        self,
        conn: asyncpg.Connection,
        tenant_id: str,
        event: str,
        key: str,
        items: Sequence[dict[str, Any]],
    ) -> None:
        """Announce ``items`` as ``{key: [...]}`` in events of at most ITEMS_PER_EVENT."""
        for start in range(0, len(items), ITEMS_PER_EVENT):
            await self.add(
                conn, tenant_id, event, {key: list(items[start : start + ITEMS_PER_EVENT])}
            )

    async def announce(
        self,
        conn: asyncpg.Connection,
        tenant_id: str,
        event: str,
        key: str,
        items: list[Any] | Callable[[], list[Any]],
    ) -> None:
        """``add_items`` when the tenant has a subscription to ``event``. ``items`` may be
        a function that makes them, called only then (a bulk request's ten thousand rows
        are not turned into event items for no subscriber)."""
        if not items or not await self.wanted(conn, [tenant_id], event):
            return
        if callable(items):
            items = items()
        if items:
            await self.add_items(conn, tenant_id, event, key, items)

    def notify(self) -> None:
        """Call after the transaction that wrote events commits."""
        if self._written:
            self._written = False
            for wake in self._listeners:
                wake()


class WebhookDispatcher:
    """Takes due deliveries (every replica may run one: each delivery is leased to one),
    posts them with at most ``concurrency`` in flight, and records each outcome.

    Two background jobs (service.background): the dispatcher looks for due deliveries
    every POLL_SECONDS, at once when this process writes events, and again as soon as a
    slot comes free while they are all taken; pruning forgets old deliveries every
    PRUNE_SECONDS."""

    def __init__(self, pool: asyncpg.Pool, outbox: Outbox, settings: WebhookSettings) -> None:
        self._pool = pool
        self._settings = settings
        # A delivery whose outcome was never recorded is due again after this.
        self._lease = timedelta(seconds=settings.timeout_secs * 2 + 30)
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._client: httpx.AsyncClient | None = None
        self._job = PeriodicJob("webhook-dispatcher", self._dispatch, POLL_SECONDS, log=logger)
        self._pruning = PeriodicJob("webhook-prune", self._prune, PRUNE_SECONDS, log=logger)
        outbox.on_written(self._job.wake)

    def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=self._settings.timeout_secs,
            follow_redirects=False,  # a redirect could lead anywhere, private addresses too
            limits=httpx.Limits(max_connections=self._settings.concurrency),
        )
        self._job.start()
        self._pruning.start()

    async def stop(self) -> None:
        """Stop taking deliveries; attempts in flight are cut short and due again at once
        at the next start (a receiver may so see an event twice: ids tell)."""
        await self._job.stop()
        await self._pruning.stop()
        cut = list(self._in_flight)
        for task in self._in_flight.values():
            task.cancel()
        await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
        if cut:
            try:
                async with self._pool.acquire() as conn:
                    await repo.release(conn, cut)
            except (OSError, asyncpg.PostgresError):
                logger.warning(
                    "could not release %d webhook deliveries; due after their lease", len(cut)
                )
        if self._client is not None:
            await self._client.aclose()

    async def _dispatch(self) -> bool:
        """Take due deliveries into the free slots. True when they filled every slot and
        one has come free since: more may be due, to look for at once."""
        free = self._settings.concurrency - len(self._in_flight)
        if free <= 0:
            return False
        async with self._pool.acquire() as conn:
            due = await repo.claim_due(conn, free, self._lease)
        for row in due:
            task = asyncio.create_task(self._deliver(row))
            self._in_flight[row["delivery_id"]] = task
            task.add_done_callback(lambda _, key=row["delivery_id"]: self._in_flight.pop(key, None))
        if len(due) < free:
            return False
        await asyncio.wait(self._in_flight.values(), return_when=asyncio.FIRST_COMPLETED)
        return True

    async def _prune(self) -> None:
        async with self._pool.acquire() as conn:
            await repo.prune(conn, timedelta(days=self._settings.retention_days))

    async def _deliver(self, row: asyncpg.Record) -> None:
        assert self._client is not None
        body = orjson.dumps(
            {
                "id": row["event_id"],
                "event": row["event"],
                "tenant_id": row["tenant_id"],
                "created_at": row["created_at"],
                "data": row["data"],
            },
            option=orjson.OPT_UTC_Z,
        )
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"recommendation-engine/{__version__}",
            "X-Webhook-Id": str(row["event_id"]),
            "X-Webhook-Delivery": str(row["delivery_id"]),
            "X-Webhook-Event": row["event"],
            "X-Webhook-Timestamp": timestamp,
            "X-Webhook-Signature": sign(row["secret"], timestamp, body),
        }
        status: int | None = None
        try:
            target = await check_target(row["url"], self._settings.allow_private_targets)
            host, tls_name = target.host_header(), target.tls_name()
            response = await self._client.post(
                target.request_url(),
                content=body,
                headers={**headers, "Host": host} if host else headers,
                extensions={"sni_hostname": tls_name} if tls_name else None,
            )
            status = response.status_code
            if 200 <= status < 300:
                await self._record(repo.record_success, row["delivery_id"], status)
                metrics.WEBHOOK_DELIVERIES.labels("delivered").inc()
                return
            error = f"the receiver answered {status}"
        except (httpx.HTTPError, TargetRefused) as failure:
            error = (
                f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
            )
        retry_in = self._retry_delay(row["attempts"])
        await self._record(repo.record_failure, row["delivery_id"], status, error, retry_in)
        metrics.WEBHOOK_DELIVERIES.labels("retrying" if retry_in else "failed").inc()

    def _retry_delay(self, attempts: int) -> timedelta | None:
        """Exponential backoff with jitter: between half and all of base * 2^(attempts-1),
        capped; None once the attempts are used up."""
        if attempts >= self._settings.max_attempts:
            return None
        ceiling = min(
            self._settings.retry_max_secs, self._settings.retry_base_secs * 2 ** (attempts - 1)
        )
        return timedelta(seconds=random.uniform(ceiling / 2, ceiling))

    async def _record(self, write: Any, *args: Any) -> None:
        async with self._pool.acquire() as conn:
            await write(conn, *args)
