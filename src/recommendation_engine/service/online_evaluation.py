"""Online evaluation without an experiment: click-through and conversion of what was
shown, by time bucket, route and algorithm, from the impressions and the interactions
attributed to them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import asyncpg

from recommendation_engine.engine.experiment_stats import proportion
from recommendation_engine.errors import ValidationFailed
from recommendation_engine.models import NAME_RULE, is_valid_name
from recommendation_engine.service.experiments import (
    DEFAULT_CLICK_TYPES,
    DEFAULT_CONVERSION_TYPES,
)
from recommendation_engine.storage import impressions as repo

Bucket = Literal["hour", "day"]


class OnlineEvaluation:
    def __init__(self, pool: asyncpg.Pool, attribution_window_hours: float) -> None:
        self._pool = pool
        self._window_seconds = attribution_window_hours * 3600

    async def report(
        self,
        tenant_id: str,
        bucket: Bucket,
        days: int,
        click_types: list[str] | None = None,
        conversion_types: list[str] | None = None,
    ) -> dict[str, Any]:
        clicks = click_types or list(DEFAULT_CLICK_TYPES)
        conversions = conversion_types or list(DEFAULT_CONVERSION_TYPES)
        bad = [name for name in clicks + conversions if not is_valid_name(name)]
        if bad:
            raise ValidationFailed(
                f"click_types and conversion_types must be {NAME_RULE}", {"invalid": bad}
            )
        if set(clicks) & set(conversions):
            raise ValidationFailed(
                "an interaction type cannot count as both click and conversion",
                {"field": "click_types/conversion_types"},
            )
        since = datetime.now(UTC) - timedelta(days=days)
        async with self._pool.acquire() as conn:
            rows = await repo.online(
                conn, tenant_id, self._window_seconds, since, bucket, clicks, conversions
            )
        return {
            "bucket": bucket,
            "since": since,
            "click_types": clicks,
            "conversion_types": conversions,
            "attribution_window_hours": self._window_seconds / 3600,
            "series": [
                {
                    "time": row.bucket,
                    "route": row.route,
                    "algorithm": row.algorithm,
                    "impressions": row.impressions,
                    "clicked_impressions": row.clicked,
                    "converted_impressions": row.converted,
                    "ctr": proportion(row.clicked, row.impressions).as_dict(),
                    "conversion_rate": proportion(row.converted, row.impressions).as_dict(),
                }
                for row in rows
            ],
        }
