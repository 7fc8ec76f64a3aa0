"""The service's Prometheus metrics, defined once for every layer to update.

With several worker processes (`serve` with WORKERS > 1) PROMETHEUS_MULTIPROC_DIR is set
before the workers start, and each process writes its samples there; a scrape of any
worker then reports the sum over all of them (`render`).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_ERRORS = Counter(
    "http_requests_errors_total",
    "HTTP requests answered with a 4xx or 5xx status",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival to the end of its response",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

CACHE_HITS = Counter("redis_cache_hits_total", "Answers found in a cache layer", ["layer"])
CACHE_MISSES = Counter(
    "redis_cache_misses_total", "Answers looked for in a cache layer and not found", ["layer"]
)
CACHE_ERRORS = Counter(
    "redis_cache_errors_total", "Redis calls of the cache that failed (answered uncached)"
)

RATE_LIMIT_ERRORS = Counter(
    "rate_limit_errors_total", "Rate-limit checks that failed (the request was let through)"
)

POOL_MAX = Gauge(
    "database_pool_max_connections", "Connections the pools may open", multiprocess_mode="livesum"
)
POOL_OPEN = Gauge(
    "database_pool_connections", "Connections the pools hold open", multiprocess_mode="livesum"
)
POOL_IDLE = Gauge(
    "database_pool_idle_connections", "Open connections not in use", multiprocess_mode="livesum"
)

MODEL_BUILD_SECONDS = Histogram(
    "model_build_duration_seconds",
    "Time to train and publish a model version",
    ["kind"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600),
)
MODEL_AGE = Gauge(
    "model_age_seconds",
    "Time since the live version's full build was trained",
    ["tenant"],
    multiprocess_mode="mostrecent",
)
MODEL_ENTITIES = Gauge(
    "model_entities", "Entities in the live model", ["tenant"], multiprocess_mode="mostrecent"
)
MODEL_USERS = Gauge(
    "model_users", "Users in the live model", ["tenant"], multiprocess_mode="mostrecent"
)
ITEM_LIST_READS = Counter(
    "item_list_reads_total",
    "Item lists a personalised or similar-entities request needed, by where they were "
    "found: hit (this replica's item list cache) or miss (read from the database)",
    ["result"],
)
ENTITY_ROW_READS = Counter(
    "entity_row_reads_total",
    "Entity rows a recommendation request needed for the model items it ranked, by "
    "where they were found: hit (this replica's entity row cache) or miss (read from "
    "the database)",
    ["result"],
)
ENTITY_ROW_BYTES = Gauge(
    "entity_row_cache_bytes",
    "Bytes of entity rows held by the entity row cache (ENTITY_CACHE_MAX_BYTES at most)",
    multiprocess_mode="livesum",
)
ITEM_LIST_BYTES = Gauge(
    "item_list_cache_bytes",
    "Bytes of item lists held by the item list cache (MODEL_CACHE_MAX_BYTES at most)",
    multiprocess_mode="livesum",
)
ITEM_LIST_WARMING = Gauge(
    "item_list_cache_warming",
    "Warm-ups of the item list cache in progress (a replica reads the lists of a new "
    "model base's most popular items after it starts or a full rebuild is published)",
    multiprocess_mode="livesum",
)
RECOMMENDATIONS_SERVED = Counter(
    "recommendations_served_total",
    "Recommendation answers served (cached or computed), by route and algorithm",
    ["route", "algorithm"],
)

INTERACTIONS_IGNORED = Counter(
    "interactions_ignored_total",
    "Stored interactions left out because their weight or value is not a finite number "
    "within the accepted range (rows stored before the range was enforced), by where",
    ["stage"],
)

WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries_total",
    "Webhook delivery attempts by outcome: delivered, retrying (failed, tried again later) "
    "or failed (given up)",
    ["outcome"],
)

IMPRESSIONS_RECORDED = Counter(
    "recommendation_impressions_total",
    "Recommendation answers recorded as impressions, by route and algorithm",
    ["route", "algorithm"],
)
EXPERIMENT_IMPRESSIONS = Counter(
    "experiment_impressions_total",
    "Impressions served under a running experiment, by tenant, experiment id and variant "
    "(series of an experiment are removed when it stops)",
    ["tenant", "experiment", "variant"],
)
IMPRESSIONS_WRITTEN = Counter(
    "impressions_written_total", "Impressions written to the database by the background job"
)
IMPRESSIONS_DROPPED = Counter(
    "impressions_dropped_total",
    "Impressions not recorded because this process's buffer was full (the database is "
    "unreachable or slower than the traffic)",
)
IMPRESSIONS_BUFFERED = Gauge(
    "impressions_buffered",
    "Impressions waiting in this process's buffer to be written",
    multiprocess_mode="livesum",
)


# Every label value exists from the start, at 0, so that a rate over it sees the first
# event too.
for _outcome in ("delivered", "retrying", "failed"):
    WEBHOOK_DELIVERIES.labels(_outcome)
for _result in ("hit", "miss"):
    ITEM_LIST_READS.labels(_result)
    ENTITY_ROW_READS.labels(_result)
for _stage in ("training", "trending"):
    INTERACTIONS_IGNORED.labels(_stage)


def render() -> bytes:
    """The text exposition of every metric, summed over worker processes if several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)
