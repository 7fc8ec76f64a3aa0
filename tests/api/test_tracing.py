"""Tracing: `serve` sends its spans over OTLP to a real receiver started here, and its JSON
request log lines carry the ids of the request's span."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import redis
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import (
    TraceServiceServicer,
    add_TraceServiceServicer_to_server,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

from recommendation_engine import __version__, logging_setup
from tests.support import API_KEY, RedisServer, cli_env, free_port, wait_until_ready

ENTITIES = "/api/v1/entities"
USER_ROUTE = "/api/v1/recommendations/user/{user_id}"


@dataclass(frozen=True)
class Span:
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    resource: dict[str, Any]


def _values(pairs: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        assert isinstance(pair, KeyValue)
        kind = pair.value.WhichOneof("value")
        found[pair.key] = getattr(pair.value, kind) if kind else None
    return found


class Receiver(TraceServiceServicer):
    """Keeps every export request it is sent, over gRPC or HTTP."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self._lock = threading.Lock()

    def Export(self, request: ExportTraceServiceRequest, context: Any) -> Any:
        with self._lock:
            self.requests.append(request)
        return ExportTraceServiceResponse()

    def spans(self) -> list[Span]:
        with self._lock:
            requests = list(self.requests)
        return [
            Span(
                name=span.name,
                kind=span.kind,
                trace_id=span.trace_id.hex(),
                span_id=span.span_id.hex(),
                parent_id=span.parent_span_id.hex(),
                attributes=_values(span.attributes),
                resource=_values(spans.resource.attributes),
            )
            for request in requests
            for spans in request.resource_spans
            for scope in spans.scope_spans
            for span in scope.spans
        ]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    """An OTLP/gRPC trace receiver on a free port, and its endpoint."""
    found = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    add_TraceServiceServicer_to_server(found, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield found, f"http://127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


@contextmanager
def serving(tmp_path: Path, database_url: str, **settings: str) -> Iterator[tuple[str, Path]]:
    """Run `serve` with JSON logs; yields its URL and its log file. Leaving the block sends
    SIGTERM and waits for a clean exit."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = cli_env(
        DATABASE_URL=database_url,
        HOST="127.0.0.1",
        PORT=str(port),
        API_KEY=API_KEY,
        LOG_FORMAT="json",
        BACKGROUND_JOBS="false",
        **settings,
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "recommendation_engine", "serve"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(process, url, log.read_text)
        yield url, log
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def request_lines(log: Path) -> dict[str, dict[str, Any]]:
    """The request log's JSON lines, by request id."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return {
        line["request_id"]: line
        for line in lines
        if line["target"] == "recommendation_engine.requests"
    }


def exercise(url: str) -> None:
    """A request that writes to the database and one answered through the Redis cache."""
    with httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=30) as http:
        created = http.post(
            ENTITIES,
            json={"entity_id": "p1", "entity_type": "product", "attributes": {"k": "v"}},
            headers={"X-Request-ID": "create-1"},
        )
        assert created.status_code == 201, created.text
        answer = http.get("/api/v1/recommendations/user/u1", headers={"X-Request-ID": "recs-1"})
        assert answer.status_code == 200, answer.text


def server_span(spans: list[Span], name: str) -> Span:
    found = [s for s in spans if s.name == name and s.kind == SpanProto.SPAN_KIND_SERVER]
    assert len(found) == 1, sorted(s.name for s in spans)
    return found[0]


def children(spans: list[Span], parent: Span, system: str) -> list[Span]:
    return [
        s
        for s in spans
        if s.trace_id == parent.trace_id
        and s.parent_id == parent.span_id
        and s.kind == SpanProto.SPAN_KIND_CLIENT
        and s.attributes.get("db.system") == system
    ]


def statement(span: Span) -> str:
    return span.attributes.get("db.statement") or span.attributes.get("db.query.text") or ""


def status_of(span: Span) -> Any:
    return span.attributes.get("http.response.status_code", span.attributes.get("http.status_code"))


def test_requests_queries_and_redis_commands_are_traced(
    tmp_path: Path, clean_db: str, redis_server: RedisServer, receiver: tuple[Receiver, str]
) -> None:
    collected, endpoint = receiver
    redis.Redis.from_url(redis_server.url).flushall()  # nothing cached by earlier tests
    with serving(
        tmp_path,
        clean_db,
        WORKERS="2",  # each worker process traces on its own
        REDIS_URL=redis_server.url,
        TRACING_ENABLED="true",
        TRACING_ENDPOINT=endpoint,
        # A minute between batches: the spans arrive only because shutdown flushes them.
        OTEL_BSP_SCHEDULE_DELAY="60000",
    ) as (url, log):
        exercise(url)
        assert collected.spans() == []
    spans = collected.spans()
    lines = request_lines(log)

    create = server_span(spans, f"POST {ENTITIES}")
    assert create.attributes["http.route"] == ENTITIES
    assert status_of(create) == 201
    assert create.resource["service.name"] == "recommendation-engine"
    assert create.resource["service.version"] == __version__
    queries = children(spans, create, "postgresql")
    assert any("INSERT INTO entities" in statement(q) for q in queries), queries
    assert (lines["create-1"]["trace_id"], lines["create-1"]["span_id"]) == (
        create.trace_id,
        create.span_id,
    )

    recommend = server_span(spans, f"GET {USER_ROUTE}")
    assert recommend.attributes["http.route"] == USER_ROUTE
    assert status_of(recommend) == 200
    assert children(spans, recommend, "redis")
    assert children(spans, recommend, "postgresql")
    assert lines["recs-1"]["trace_id"] == recommend.trace_id != create.trace_id

    # Traces start at requests: none for the readiness checks (answered many times while
    # starting) or their query, none for the queries run at startup.
    assert not [s for s in spans if "/ready" in s.name or statement(s) == "SELECT 1"]
    assert {s.name for s in spans if not s.parent_id} == {create.name, recommend.name}


def test_with_tracing_off_nothing_is_sent_and_no_tracing_code_is_loaded(
    tmp_path: Path, clean_db: str, redis_server: RedisServer, receiver: tuple[Receiver, str]
) -> None:
    collected, endpoint = receiver
    with serving(
        tmp_path,
        clean_db,
        REDIS_URL=redis_server.url,
        TRACING_ENDPOINT=endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",
    ) as (url, log):
        exercise(url)
    assert collected.requests == []
    lines = request_lines(log)
    assert lines["create-1"]["status"] == 201
    assert not [line for line in lines.values() if "trace_id" in line]

    # FastAPI and redis-py import parts of OpenTelemetry themselves (the API, the SDK's
    # metrics); the tracer SDK, the exporters and the instrumentations only with tracing on.
    probe = (
        "import sys\n"
        "from recommendation_engine.api.app import create_app\n"
        "from recommendation_engine.config import TracingSettings\n"
        "from tests.support import make_settings\n"
        "tracing = TracingSettings(enabled=sys.argv[1] == 'on', endpoint='http://127.0.0.1:1')\n"
        "create_app(make_settings('postgresql://unused', tracing=tracing))\n"
        "print('\\n'.join(sys.modules))\n"
    )
    ours = ("opentelemetry.sdk.trace", "opentelemetry.exporter", "opentelemetry.instrumentation")
    loaded = {
        mode: {
            name
            for name in subprocess.run(
                [sys.executable, "-c", probe, mode],
                cwd=Path(__file__).parents[2],
                env=cli_env(),
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout.split()
            if name.startswith(ours) or name == "recommendation_engine.tracing"
        }
        for mode in ("off", "on")
    }
    assert loaded["off"] == set()
    assert {"opentelemetry.sdk.trace", "recommendation_engine.tracing"} <= loaded["on"]


class _HttpReceiver(BaseHTTPRequestHandler):
    receiver: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.receiver.Export(ExportTraceServiceRequest.FromString(body), None)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(ExportTraceServiceResponse().SerializeToString())

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_an_otlp_http_endpoint_gets_the_spans_over_http() -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from recommendation_engine.tracing import exporter, resource

    assert isinstance(exporter("http://localhost:4317"), GrpcExporter)
    assert isinstance(exporter("http://collector:4318"), HttpExporter)

    collected = Receiver()
    handler = type("Handler", (_HttpReceiver,), {"receiver": collected})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
        provider = TracerProvider(resource=resource())
        provider.add_span_processor(SimpleSpanProcessor(exporter(endpoint)))
        with provider.get_tracer("test").start_as_current_span("work"):
            pass
        provider.shutdown()
    finally:
        server.shutdown()
        server.server_close()
    [span] = collected.spans()
    assert span.name == "work"
    assert span.resource["service.name"] == "recommendation-engine"


def test_log_lines_carry_the_ids_of_the_current_sampled_span() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ParentBased
    from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

    from recommendation_engine.tracing import RequestsOnly, current_ids

    tracer = TracerProvider(sampler=ParentBased(RequestsOnly())).get_tracer("test")
    record = logging.LogRecord("test", logging.INFO, __file__, 1, "hello", None, None)

    def lines() -> tuple[dict[str, Any], str]:
        json_line = json.loads(logging_setup.JsonFormatter().format(record))
        return json_line, logging_setup.TextFormatter().format(record)

    logging_setup.set_trace_ids(current_ids)
    try:
        request = {"http.route": ENTITIES}
        with tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes=request) as span:
            traced = lines()
            with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as query:
                in_query = lines()
        probe = {"http.route": "/health"}
        with tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes=probe) as skipped:
            untraced = lines()
        with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as alone:
            outside = lines()
    finally:
        logging_setup.set_trace_ids(None)

    trace_id = format_trace_id(span.get_span_context().trace_id)
    assert traced[0]["trace_id"] == trace_id
    assert traced[0]["span_id"] == format_span_id(span.get_span_context().span_id)
    assert traced[1].endswith(f"test: hello trace_id={trace_id}")
    assert in_query[0]["trace_id"] == trace_id
    assert in_query[0]["span_id"] == format_span_id(query.get_span_context().span_id)
    # Probes and work outside any request start no trace, and their lines carry no ids.
    assert not skipped.is_recording() and not alone.is_recording()
    for json_line, text in (untraced, outside):
        assert "trace_id" not in json_line and "span_id" not in json_line
        assert text.endswith("test: hello")
