"""Bulk requests: their size check and their report, in today's fields and in the fields
the original service's clients read (``job_id``, ``status``, ``total_records``,
``processed``, ``successful``, and per failed row the id it names and an ``error`` text)."""

from __future__ import annotations

import uuid
from typing import Any

from recommendation_engine.api.responses import FastJSONResponse
from recommendation_engine.errors import PayloadTooLarge
from recommendation_engine.service.entities import BulkResult, RowError

_MESSAGES = {
    "unknown_entity": "the entity does not exist",
    "ambiguous_entity_type": "the entity id exists under several entity types; give entity_type",
    "unknown_interaction_type": "the interaction type is not registered",
    "tenant_mismatch": "the row names another tenant than the request",
}


def check_bulk_size(count: int, limit: int) -> None:
    if count > limit:
        raise PayloadTooLarge(
            f"a bulk request takes at most {limit} rows, got {count}",
            {"max_items": limit, "received": count},
        )


def bulk_response(result: BulkResult, rows: list[Any], ids: tuple[str, ...]) -> FastJSONResponse:
    """The report of a bulk request over ``rows``; each error carries the row's ``ids``
    (those that are strings in the row as sent)."""
    report = result.as_dict()
    successful = result.received - result.failed
    report.update(
        job_id=str(uuid.uuid4()),
        status="completed" if not result.failed else "failed" if not successful else "partial",
        total_records=result.received,
        processed=result.received,
        successful=successful,
    )
    report["errors"] = [
        out | _ids(rows[error.index], ids) | {"error": row_message(error)}
        for out, error in zip(report["errors"], result.errors, strict=True)
    ]
    return FastJSONResponse(report)


def _ids(row: Any, ids: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(row, dict):
        return {}
    return {name: row[name] for name in ids if isinstance(row.get(name), str)}


def row_message(error: RowError) -> str:
    """One line saying why a row failed."""
    if error.reason == "invalid" and isinstance(error.details, list):
        problems = [
            f"{d.get('field')}: {d.get('message')}" if d.get("field") else str(d.get("message"))
            for d in error.details
            if isinstance(d, dict)
        ]
        return "; ".join(problems) or "invalid row"
    return _MESSAGES.get(error.reason, error.reason)
