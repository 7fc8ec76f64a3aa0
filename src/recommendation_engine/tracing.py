"""OpenTelemetry tracing, on with TRACING_ENABLED=true: a server span per HTTP request,
named by its route template, with a child span per database query and per Redis command,
exported over OTLP to TRACING_ENDPOINT. Log records written under a span carry its ids.

This module is imported only when tracing is on. ``create_app`` runs in every worker
process, so each worker sets up its own tracer provider; the application's shutdown
flushes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import (
    SERVICE_NAME,
    SERVICE_VERSION,
    OTELResourceDetector,
    Resource,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

from recommendation_engine import __version__, logging_setup
from recommendation_engine.config import Settings

# Health checks and metric scrapes: frequent, and of no interest in a trace.
UNTRACED_ROUTES = frozenset({"/health", "/ready", "/metrics"})


class RequestsOnly(Sampler):
    """As the root sampler of ParentBased: a trace starts at an HTTP request, except one to
    UNTRACED_ROUTES. Queries and commands outside any request (startup, background jobs)
    start no trace of their own, and those of an untraced request are dropped with it."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if kind is not SpanKind.SERVER or (attributes or {}).get(HTTP_ROUTE) in UNTRACED_ROUTES:
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "RequestsOnly"


def exporter(endpoint: str) -> SpanExporter:
    """OTLP over gRPC, or over HTTP for an endpoint on port 4318 or ending in /v1/traces."""
    parts = urlsplit(endpoint)
    full = parts.path.rstrip("/").endswith("/v1/traces")
    if full or parts.port == 4318:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter(endpoint=endpoint if full else f"{endpoint.rstrip('/')}/v1/traces")
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint)  # http:// is plaintext, https:// TLS


def resource() -> Resource:
    """The service's name and version; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win."""
    ours = Resource.create({SERVICE_NAME: "recommendation-engine", SERVICE_VERSION: __version__})
    return ours.merge(OTELResourceDetector().detect())


def current_ids() -> tuple[str, str] | None:
    """The current span's trace and span ids in hex, while a sampled span is active."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


def configure_tracing(settings: Settings, app: FastAPI) -> Callable[[], None]:
    """Trace ``app``'s requests and this process's queries and Redis commands; returns the
    function that stops tracing, exporting the spans not yet sent."""
    provider = TracerProvider(resource=resource(), sampler=ParentBased(RequestsOnly()))
    # The batch's delay and size follow OTEL_BSP_* when set.
    provider.add_span_processor(BatchSpanProcessor(exporter(settings.tracing.endpoint)))
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, exclude_spans=["receive", "send"]
    )
    AsyncPGInstrumentor().instrument(tracer_provider=provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    logging_setup.set_trace_ids(current_ids)

    def shutdown() -> None:
        logging_setup.set_trace_ids(None)
        RedisInstrumentor().uninstrument()
        AsyncPGInstrumentor().uninstrument()
        provider.shutdown()

    return shutdown
