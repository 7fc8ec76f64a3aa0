"""Interactions: recording (single, idempotent, bulk), listing and export."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic import TypeAdapter, ValidationError

from recommendation_engine import models
from recommendation_engine.errors import NotFound, ValidationFailed
from recommendation_engine.models import Interaction, InteractionInput, InteractionType
from recommendation_engine.service.entities import (
    BulkResult,
    RowError,
    resolve_entity_type,
    validation_details,
)
from recommendation_engine.service.interaction_types import InteractionTypeService
from recommendation_engine.service.webhook_delivery import Outbox
from recommendation_engine.storage import entities as entities_repo
from recommendation_engine.storage import interactions as repo
from recommendation_engine.storage.cache import ResponseCache
from recommendation_engine.storage.group_commit import GroupCommitter
from recommendation_engine.storage.interactions import NewInteraction

_INTERACTION_INPUT = TypeAdapter(InteractionInput)


@dataclass(slots=True)
class Recorded:
    interaction: Interaction
    created: bool  # False when the event_id had already been recorded


def effective_weight(interaction: Interaction, types: dict[str, InteractionType]) -> float | None:
    """The weight an interaction counts with: explicit, or its type's weight times its value."""
    kind = types.get(interaction.interaction_type)
    return models.effective_weight(
        interaction.weight, interaction.value, kind.default_weight if kind else None
    )


def _timestamp(value: datetime | None) -> datetime:
    return datetime.now(UTC) if value is None else value  # validated: in UTC


# As single interactions' events give their time (storage.webhooks.UTC_TIME).
EVENT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _announced_row(tenant_id: str, row: tuple[Any, ...]) -> dict[str, Any]:
    """A bulk row as webhook events show interactions (stored ids are not read back)."""
    _, user_id, entity_type, entity_id, kind, weight, value, metadata, event_id, at, _ = row
    return {
        "user_id": user_id,
        "entity_id": entity_id,
        "entity_type": entity_type,
        "interaction_type": kind,
        "weight": weight,
        "value": value,
        "metadata": metadata,
        "event_id": event_id,
        "timestamp": at.astimezone(UTC).strftime(EVENT_TIME_FORMAT),
        "tenant_id": tenant_id,
    }


class InteractionService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        types: InteractionTypeService,
        cache: ResponseCache,
        outbox: Outbox,
    ) -> None:
        self._pool = pool
        self.types = types
        self._cache = cache
        self._outbox = outbox
        self._writer: GroupCommitter[NewInteraction, Interaction | None] = GroupCommitter(
            pool, self._insert_and_announce
        )

    async def _insert_and_announce(
        self, conn: asyncpg.Connection, rows: Sequence[NewInteraction]
    ) -> list[Interaction | None]:
        """Write a group of single interactions (of any tenants); the same statement
        queues an interaction.recorded event for each subscribed tenant."""
        stored, announced = await repo.insert_many(conn, rows)
        if announced:
            self._outbox.note_written()
        return stored

    async def _check_type(self, tenant_id: str, name: str) -> dict[str, InteractionType]:
        types = await self.types.all(tenant_id)
        if name not in types:
            raise ValidationFailed(
                f"unknown interaction type '{name}'; register it with "
                "POST /api/v1/interaction-types first",
                details={"field": "interaction_type", "known": sorted(types)},
            )
        return types

    async def record(self, tenant_id: str, data: InteractionInput) -> Recorded:
        await self._check_type(tenant_id, data.interaction_type)
        entity_type = data.entity_type
        if entity_type is None:
            async with self._pool.acquire() as conn:
                entity_type = await resolve_entity_type(conn, tenant_id, data.entity_id, None)
        row = NewInteraction(
            tenant_id=tenant_id,
            user_id=data.user_id,
            entity_type=entity_type,
            entity_id=data.entity_id,
            interaction_type=data.interaction_type,
            weight=data.weight,
            value=data.value,
            metadata=data.metadata or None,
            event_id=data.event_id,
            occurred_at=_timestamp(data.timestamp),
            recommendation_id=data.recommendation_id,
        )
        stored = await self._writer.submit(row)
        self._outbox.notify()
        if stored is not None:
            # Read-your-writes: the user's next request is not answered from the cache.
            await self._cache.invalidate_users(tenant_id, [data.user_id])
            return Recorded(stored, created=True)
        if data.event_id is not None:
            async with self._pool.acquire() as conn:
                existing = await repo.get_by_event_id(conn, tenant_id, data.event_id)
            if existing is not None:
                return Recorded(existing, created=False)
        raise NotFound(
            f"entity '{data.entity_id}' of type '{entity_type}' does not exist; "
            "register it with POST /api/v1/entities before recording interactions with it",
            details={"entity_id": data.entity_id, "entity_type": entity_type},
        )

    async def bulk_record(self, tenant_id: str, rows: list[Any]) -> BulkResult:
        """Store every valid row; report each invalid one by index with its reason."""
        result = BulkResult(received=len(rows))
        types = await self.types.all(tenant_id)
        valid: list[tuple[int, InteractionInput]] = []
        for index, raw in enumerate(rows):
            try:
                data = _INTERACTION_INPUT.validate_python(raw)
            except ValidationError as error:
                result.errors.append(RowError(index, "invalid", validation_details(error)))
                continue
            if data.tenant_id not in (None, tenant_id):
                result.errors.append(
                    RowError(index, "tenant_mismatch", {"tenant_id": data.tenant_id})
                )
                continue
            if data.interaction_type not in types:
                result.errors.append(
                    RowError(
                        index,
                        "unknown_interaction_type",
                        {"interaction_type": data.interaction_type},
                    )
                )
                continue
            valid.append((index, data))
        if not valid:
            return result
        async with self._pool.acquire() as conn, conn.transaction():
            untyped = sorted({d.entity_id for _, d in valid if d.entity_type is None})
            resolved = await entities_repo.types_by_id(conn, tenant_id, untyped) if untyped else {}
            records: list[tuple[Any, ...]] = []
            for index, data in valid:
                entity_type = data.entity_type
                if entity_type is None:
                    candidates = resolved.get(data.entity_id, [])
                    if len(candidates) != 1:
                        reason = "unknown_entity" if not candidates else "ambiguous_entity_type"
                        result.errors.append(RowError(index, reason, {"entity_id": data.entity_id}))
                        continue
                    entity_type = candidates[0]
                records.append(
                    (
                        index,
                        data.user_id,
                        entity_type,
                        data.entity_id,
                        data.interaction_type,
                        data.weight,
                        data.value,
                        data.metadata or None,
                        data.event_id,
                        _timestamp(data.timestamp),
                        data.recommendation_id,
                    )
                )
            outcome = await repo.bulk_insert(conn, tenant_id, records)
            left_out = set(outcome.missing_entity) | set(outcome.duplicate)
            await self._outbox.announce(
                conn,
                tenant_id,
                "interaction.recorded",
                "interactions",
                lambda: [_announced_row(tenant_id, r) for r in records if r[0] not in left_out],
            )
        self._outbox.notify()
        by_index = {r[0]: r for r in records}
        for index in outcome.missing_entity:
            row = by_index[index]
            result.errors.append(
                RowError(index, "unknown_entity", {"entity_id": row[3], "entity_type": row[2]})
            )
        result.errors.sort(key=lambda e: e.index)
        result.created = outcome.inserted
        if outcome.inserted:
            missing = set(outcome.missing_entity)
            await self._cache.invalidate_users(
                tenant_id, {r[1] for r in records if r[0] not in missing}
            )
        # Rows already stored under their event_id (a retried import) are skipped, not failed.
        result.skipped = len(records) - outcome.inserted - len(outcome.missing_entity)
        return result

    async def for_user(
        self, tenant_id: str, user_id: str, limit: int, offset: int
    ) -> list[Interaction]:
        async with self._pool.acquire() as conn:
            return await repo.list_for_user(conn, tenant_id, user_id, limit, offset)

    async def for_entity(
        self, tenant_id: str, entity_id: str, entity_type: str | None, limit: int, offset: int
    ) -> list[Interaction]:
        async with self._pool.acquire() as conn:
            entity_type = await resolve_entity_type(conn, tenant_id, entity_id, entity_type)
            return await repo.list_for_entity(
                conn, tenant_id, entity_type, entity_id, limit, offset
            )

    async def stream(self, tenant_id: str) -> AsyncIterator[Interaction]:
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            async for interaction in repo.stream(conn, tenant_id):
                yield interaction
