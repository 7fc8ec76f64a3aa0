"""A request's log line: written directly while the service's own handler is the only
one, through logging otherwise; the same line either way."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from recommendation_engine import logging_setup

FIELDS = {
    "request_id": "abc",
    "tenant": "acme",
    "method": "GET",
    "route": "/api/v1/recommendations/user/{user_id}",
    "status": 200,
    "duration_ms": 1.25,
}
MESSAGE = "GET /api/v1/recommendations/user/{user_id} 200 1.2ms"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging_setup._direct = None


def lines(fmt: str, extra_handler: bool) -> list[str]:
    logging_setup.configure_logging("info", fmt)
    handler = logging_setup._direct
    assert handler is not None
    stream = io.StringIO()
    handler.setStream(stream)
    logger = logging.getLogger("recommendation_engine.requests")
    other = logging.NullHandler()
    if extra_handler:
        logger.addHandler(other)  # someone else listens too: the general path
    try:
        logging_setup.log_request(logger, MESSAGE, dict(FIELDS))
        handler.flush()
    finally:
        logger.removeHandler(other)
    return stream.getvalue().splitlines()


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_are_the_same_either_way() -> None:
    (direct,) = lines("json", extra_handler=False)
    (general,) = lines("json", extra_handler=True)
    one, two = json.loads(direct), json.loads(general)
    assert one.pop("timestamp")[:19] == two.pop("timestamp")[:19]
    assert (
        one
        == two
        == {
            "level": "INFO",
            "target": "recommendation_engine.requests",
            "message": MESSAGE,
            **FIELDS,
        }
    )


@pytest.mark.usefixtures("restore_logging")
def test_text_lines_are_the_same_either_way() -> None:
    (direct,) = lines("text", extra_handler=False)
    (general,) = lines("text", extra_handler=True)
    assert direct[:19] == general[:19]
    assert direct[23:] == general[23:] == f" INFO recommendation_engine.requests: {MESSAGE}"


@pytest.mark.usefixtures("restore_logging")
def test_a_warning_writes_itself_and_the_lines_before_it_at_once() -> None:
    logging_setup.configure_logging("info", "text")
    handler = logging_setup._direct
    assert handler is not None
    stream = io.StringIO()
    handler.setStream(stream)
    logger = logging.getLogger("recommendation_engine.requests")
    logging_setup.log_request(logger, MESSAGE, dict(FIELDS))
    logging.getLogger("recommendation_engine.test").warning("something odd")
    written = stream.getvalue().splitlines()
    assert len(written) == 2 and written[1].endswith("something odd")
