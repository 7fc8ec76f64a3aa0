"""Rates from the service's own Prometheus counters, for the dashboard.

The counters only ever grow; a rate needs two readings. A background task reads them
every `SAMPLE_SECONDS` and keeps `KEEP_SECONDS` of readings; a summary compares a fresh
reading with the oldest one inside the window. With several worker processes the
readings are the sums over all of them, as `/metrics` reports.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.metrics_core import Metric

from recommendation_engine import metrics

SAMPLE_SECONDS = 10.0
WINDOW_SECONDS = 300.0
KEEP_SECONDS = 900.0
# Only the API's routes count: not the probes, /metrics, nor the dashboard itself.
API_PREFIX = "/api/"


@dataclass(slots=True)
class Reading:
    at: float
    requests: float = 0.0
    server_errors: float = 0.0
    client_errors: float = 0.0
    # upper bound of each latency bucket -> requests at or under it (cumulative)
    buckets: dict[float, float] = field(default_factory=dict)
    cache_hits: float = 0.0
    cache_lookups: float = 0.0


def _families() -> Iterable[Metric]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry.collect()
    return (
        family
        for collector in (
            metrics.HTTP_REQUESTS,
            metrics.HTTP_DURATION,
            metrics.CACHE_HITS,
            metrics.CACHE_MISSES,
        )
        for family in collector.collect()
    )


def read() -> Reading:
    reading = Reading(at=time.monotonic())
    for family in _families():
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "http_requests_total":
                if not labels.get("route", "").startswith(API_PREFIX):
                    continue
                reading.requests += sample.value
                status = labels.get("status", "")
                if status.startswith("5"):
                    reading.server_errors += sample.value
                elif status.startswith("4"):
                    reading.client_errors += sample.value
            elif sample.name == "http_request_duration_seconds_bucket":
                if labels.get("route", "").startswith(API_PREFIX):
                    bound = float(labels["le"])
                    reading.buckets[bound] = reading.buckets.get(bound, 0.0) + sample.value
            elif sample.name == "redis_cache_hits_total":
                reading.cache_hits += sample.value
            elif sample.name == "redis_cache_misses_total" and labels.get("layer") == "memory":
                # Every lookup starts in memory: its hits and misses are all the lookups.
                reading.cache_lookups += sample.value
            if sample.name == "redis_cache_hits_total" and labels.get("layer") == "memory":
                reading.cache_lookups += sample.value
    return reading


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The q-quantile of a cumulative histogram, interpolated within its bucket as
    Prometheus' histogram_quantile does; None without observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    counts = [buckets[b] for b in bounds]
    index = bisect.bisect_left(counts, rank)
    if index >= len(bounds) or bounds[index] == float("inf"):
        return bounds[-2] if len(bounds) > 1 else None  # beyond the largest finite bound
    lower = bounds[index - 1] if index > 0 else 0.0
    below = counts[index - 1] if index > 0 else 0.0
    inside = counts[index] - below
    if inside <= 0:
        return bounds[index]
    return lower + (bounds[index] - lower) * (rank - below) / inside


def summarize(old: Reading, new: Reading) -> dict[str, Any]:
    seconds = max(new.at - old.at, 1e-9)
    requests = new.requests - old.requests
    lookups = new.cache_lookups - old.cache_lookups
    latency = quantile(
        0.95, {b: new.buckets.get(b, 0.0) - old.buckets.get(b, 0.0) for b in new.buckets}
    )
    return {
        "window_seconds": round(seconds),
        "requests": int(requests),
        "requests_per_second": requests / seconds,
        "p95_ms": latency * 1000 if latency is not None else None,
        "error_rate": (new.server_errors - old.server_errors) / requests if requests else None,
        "client_error_rate": (
            (new.client_errors - old.client_errors) / requests if requests else None
        ),
        "cache_hit_rate": (new.cache_hits - old.cache_hits) / lookups if lookups else None,
    }


class ServiceMetrics:
    def __init__(self, sample_seconds: float = SAMPLE_SECONDS) -> None:
        self._sample_seconds = sample_seconds
        self._readings: deque[Reading] = deque()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._keep(read())
        self._task = asyncio.create_task(self._sample(), name="dashboard-metrics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(self._sample_seconds)
            self._keep(read())

    def _keep(self, reading: Reading) -> None:
        self._readings.append(reading)
        while self._readings and reading.at - self._readings[0].at > KEEP_SECONDS:
            self._readings.popleft()

    def summary(self) -> dict[str, Any]:
        """Rates over the last `WINDOW_SECONDS` (or since the first reading)."""
        now = read()
        oldest = next(
            (r for r in self._readings if now.at - r.at <= WINDOW_SECONDS),
            self._readings[-1] if self._readings else Reading(at=now.at - 1),
        )
        return summarize(oldest, now)
