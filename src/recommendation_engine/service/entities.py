"""Entities: registration, updates, lookups, bulk upserts and export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import numpy as np
from pydantic import TypeAdapter, ValidationError

from recommendation_engine.engine.features import extract_features
from recommendation_engine.errors import Conflict, NotFound, ValidationFailed
from recommendation_engine.models import Entity, EntityInput
from recommendation_engine.service.webhook_delivery import Outbox
from recommendation_engine.storage import entities as repo
from recommendation_engine.storage.cache import ResponseCache

_ENTITY_INPUT = TypeAdapter(EntityInput)


@dataclass(slots=True)
class RowError:
    index: int
    reason: str
    details: Any = None


@dataclass(slots=True)
class BulkResult:
    received: int
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.errors)

    def as_dict(self, position: str = "index", max_errors: int | None = None) -> dict[str, Any]:
        """The report as the API shows it; ``position`` names the row-position field."""
        return {
            "received": self.received,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "failed": self.failed,
            "errors": [
                {position: e.index, "reason": e.reason, "details": e.details}
                for e in self.errors[:max_errors]
            ],
        }


def validation_details(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
        for e in error.errors(include_url=False, include_input=False)
    ]


class EntityService:
    def __init__(
        self, pool: asyncpg.Pool, dimension: int, cache: ResponseCache, outbox: Outbox
    ) -> None:
        self._pool = pool
        self.dimension = dimension
        self._cache = cache
        self._outbox = outbox

    def vector_for(self, attributes: dict[str, Any], supplied: list[float] | None) -> np.ndarray:
        if supplied is None:
            return extract_features(attributes, self.dimension)
        if len(supplied) != self.dimension:
            raise ValidationFailed(
                f"feature_vector must have {self.dimension} values, got {len(supplied)}",
                details={"field": "feature_vector", "expected_dimension": self.dimension},
            )
        return np.asarray(supplied, dtype=np.float32)

    async def create(self, tenant_id: str, data: EntityInput) -> Entity:
        vector = self.vector_for(data.attributes, data.feature_vector)
        async with self._pool.acquire() as conn:
            entity, announced = await repo.insert(
                conn, tenant_id, data.entity_type, data.entity_id, data.attributes, vector
            )
        self._notify(announced)
        if entity is None:
            raise Conflict(
                f"entity '{data.entity_id}' of type '{data.entity_type}' already exists; "
                "update it with PUT",
                details={"entity_id": data.entity_id, "entity_type": data.entity_type},
            )
        return entity

    def _notify(self, announced: bool) -> None:
        if announced:
            self._outbox.note_written()
            self._outbox.notify()

    async def get(self, tenant_id: str, entity_id: str, entity_type: str | None) -> Entity:
        async with self._pool.acquire() as conn:
            entity_type = await resolve_entity_type(conn, tenant_id, entity_id, entity_type)
            entity = await repo.get(conn, tenant_id, entity_type, entity_id)
        if entity is None:
            raise _not_found(entity_id, entity_type)
        return entity

    async def update(
        self,
        tenant_id: str,
        entity_id: str,
        entity_type: str | None,
        attributes: dict[str, Any],
        supplied_vector: list[float] | None,
    ) -> Entity:
        vector = self.vector_for(attributes, supplied_vector)
        async with self._pool.acquire() as conn:
            entity_type = await resolve_entity_type(conn, tenant_id, entity_id, entity_type)
            entity, announced = await repo.update(
                conn, tenant_id, entity_type, entity_id, attributes, vector
            )
        self._notify(announced)
        if entity is None:
            raise _not_found(entity_id, entity_type)
        await self._cache.invalidate_tenant(tenant_id)  # cached lists show its attributes
        return entity

    async def delete(self, tenant_id: str, entity_id: str, entity_type: str | None) -> None:
        async with self._pool.acquire() as conn:
            entity_type = await resolve_entity_type(conn, tenant_id, entity_id, entity_type)
            existed, announced = await repo.delete(conn, tenant_id, entity_type, entity_id)
        if not existed:
            raise _not_found(entity_id, entity_type)
        self._notify(announced)
        await self._cache.invalidate_tenant(tenant_id)

    async def bulk_upsert(self, tenant_id: str, rows: list[Any]) -> BulkResult:
        """Validate each row on its own; store the valid ones; report the rest by index."""
        result = BulkResult(received=len(rows))
        latest: dict[tuple[str, str], tuple[str, str, dict[str, Any], np.ndarray]] = {}
        for index, raw in enumerate(rows):
            try:
                data = _ENTITY_INPUT.validate_python(raw)
                vector = self.vector_for(data.attributes, data.feature_vector)
            except ValidationError as error:
                result.errors.append(RowError(index, "invalid", validation_details(error)))
                continue
            except ValidationFailed as error:
                result.errors.append(
                    RowError(index, "invalid", [error.details | {"message": error.message}])
                )
                continue
            if data.tenant_id not in (None, tenant_id):
                result.errors.append(
                    RowError(index, "tenant_mismatch", {"tenant_id": data.tenant_id})
                )
                continue
            key = (data.entity_type, data.entity_id)
            if key in latest:
                result.skipped += 1  # a later row with the same key wins
            latest[key] = (data.entity_type, data.entity_id, data.attributes, vector)
        if latest:
            async with self._pool.acquire() as conn, conn.transaction():
                written = await repo.upsert_many(conn, tenant_id, list(latest.values()))
                for event, created in (("entity.created", True), ("entity.updated", False)):
                    await self._outbox.announce(
                        conn,
                        tenant_id,
                        event,
                        "entities",
                        [
                            {"entity_type": t, "entity_id": i, "attributes": latest[t, i][2]}
                            for t, i, new in written
                            if new is created
                        ],
                    )
            self._outbox.notify()
            result.created = sum(1 for *_, new in written if new)
            result.updated = len(written) - result.created
            if result.updated:
                await self._cache.invalidate_tenant(tenant_id)
        return result

    async def stream(self, tenant_id: str) -> AsyncIterator[Entity]:
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            async for entity in repo.stream(conn, tenant_id):
                yield entity


async def resolve_entity_type(
    conn: asyncpg.Connection, tenant_id: str, entity_id: str, entity_type: str | None
) -> str:
    """The entity's type: as given, or looked up when the id is unique in the tenant."""
    if entity_type is not None:
        return entity_type
    types = await repo.types_of(conn, tenant_id, entity_id)
    if not types:
        raise NotFound(f"entity '{entity_id}' does not exist", {"entity_id": entity_id})
    if len(types) > 1:
        raise Conflict(
            f"entity id '{entity_id}' exists under several entity types; "
            "pass entity_type to choose one",
            details={"entity_id": entity_id},
        )
    return types[0]


def _not_found(entity_id: str, entity_type: str) -> NotFound:
    return NotFound(
        f"entity '{entity_id}' of type '{entity_type}' does not exist",
        details={"entity_id": entity_id, "entity_type": entity_type},
    )
