"""NDJSON export and import of a tenant's entities and interactions.

Export writes one JSON object per line: entities first, then interactions (oldest
first). Import reads the same lines back; a line with a ``user_id`` is an interaction,
any other line an entity. Lines are sent through the same bulk code as the HTTP API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from recommendation_engine.service.container import Services
from recommendation_engine.service.entities import BulkResult

What = Literal["entities", "interactions", "all"]

_ENTITY_FIELDS = ("entity_id", "entity_type", "attributes", "feature_vector")
_INTERACTION_FIELDS = (
    "user_id",
    "entity_id",
    "entity_type",
    "interaction_type",
    "weight",
    "value",
    "metadata",
    "timestamp",
    "event_id",
)


async def export_records(services: Services, tenant_id: str, what: What) -> AsyncIterator[dict]:
    if what in ("entities", "all"):
        async for entity in services.entities.stream(tenant_id):
            yield entity.as_dict()
    if what in ("interactions", "all"):
        async for item in services.interactions.stream(tenant_id):
            # `weight` appears only when it was explicit, so imported history keeps
            # following the interaction types' weights.
            yield item.as_dict(item.weight)


@dataclass(slots=True)
class ImportSummary:
    lines: int = 0
    entities: BulkResult = field(default_factory=lambda: BulkResult(received=0))
    interactions: BulkResult = field(default_factory=lambda: BulkResult(received=0))
    unreadable: list[int] = field(default_factory=list)

    def add(self, target: BulkResult, part: BulkResult, first_line: list[int]) -> None:
        target.received += part.received
        target.created += part.created
        target.updated += part.updated
        target.skipped += part.skipped
        for error in part.errors:
            error.index = first_line[error.index]
            target.errors.append(error)


def _pick(record: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: record[name] for name in names if record.get(name) is not None}


async def import_lines(
    services: Services, tenant_id: str, lines: Iterable[bytes], batch_size: int
) -> ImportSummary:
    """Import NDJSON lines in batches; errors are reported by 1-based line number."""
    summary = ImportSummary()
    entities: list[dict[str, Any]] = []
    entity_lines: list[int] = []
    interactions: list[dict[str, Any]] = []
    interaction_lines: list[int] = []

    async def flush_entities() -> None:
        if entities:
            part = await services.entities.bulk_upsert(tenant_id, entities)
            summary.add(summary.entities, part, entity_lines)
            entities.clear()
            entity_lines.clear()

    async def flush_interactions() -> None:
        await flush_entities()  # interactions may refer to entities buffered before them
        if interactions:
            part = await services.interactions.bulk_record(tenant_id, interactions)
            summary.add(summary.interactions, part, interaction_lines)
            interactions.clear()
            interaction_lines.clear()

    for number, line in enumerate(lines, start=1):
        summary.lines = number
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            summary.unreadable.append(number)
            continue
        if not isinstance(record, dict):
            summary.unreadable.append(number)
        elif "user_id" in record:
            interactions.append(_pick(record, _INTERACTION_FIELDS))
            interaction_lines.append(number)
            if len(interactions) >= batch_size:
                await flush_interactions()
        else:
            entities.append(_pick(record, _ENTITY_FIELDS))
            entity_lines.append(number)
            if len(entities) >= batch_size:
                await flush_entities()
    await flush_interactions()
    return summary
