"""Remembered parameter shapes answer as FastAPI does, and requests read parameters alike."""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Literal

import fastapi.dependencies.utils
import pytest
from fastapi import FastAPI, Query
from fastapi._compat import field_annotation_is_sequence
from fastapi.testclient import TestClient

from recommendation_engine.api.fastapi_tuning import (
    remember_parameter_shapes,
    remembered_is_sequence,
)

ANNOTATIONS: list[Any] = [
    str,
    int,
    bool,
    bytes,
    str | None,
    int | None,
    list[str],
    list[int] | None,
    tuple[str, ...],
    set[str],
    frozenset[int] | None,
    dict[str, str],
    Literal["a", "b"],
    None,
    Annotated[list[str], {"unhashable": "metadata"}],
]


@pytest.mark.parametrize("annotation", ANNOTATIONS, ids=repr)
def test_each_answer_is_fastapis(annotation: Any) -> None:
    expected = field_annotation_is_sequence(annotation)
    assert remembered_is_sequence(annotation) is expected
    assert remembered_is_sequence(annotation) is expected  # remembered (or re-asked)


def test_the_application_reads_parameters_through_the_remembered_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from recommendation_engine.api.app import create_app
    from recommendation_engine.config import Settings

    monkeypatch.setattr(
        fastapi.dependencies.utils, "field_annotation_is_sequence", field_annotation_is_sequence
    )
    monkeypatch.setenv("API_KEY", "key")
    create_app(Settings())
    assert fastapi.dependencies.utils.field_annotation_is_sequence is remembered_is_sequence


def test_fastapi_still_reads_parameters_through_the_replaced_name() -> None:
    """A FastAPI that stopped calling it would leave the replacement unused, silently."""
    reader = inspect.getsource(fastapi.dependencies.utils._get_multidict_value)
    assert "field_annotation_is_sequence(" in reader


def test_requests_read_lists_and_scalars_as_before() -> None:
    remember_parameter_shapes()
    app = FastAPI()

    @app.get("/read")
    async def read(
        tags: Annotated[list[str] | None, Query()] = None,
        one: str | None = None,
        count: Annotated[int, Query(ge=1)] = 3,
    ) -> dict[str, Any]:
        return {"tags": tags, "one": one, "count": count}

    client = TestClient(app)
    assert client.get("/read?tags=a&tags=b&one=x&one=y&count=5").json() == {
        "tags": ["a", "b"],
        "one": "y",
        "count": 5,
    }
    assert client.get("/read").json() == {"tags": None, "one": None, "count": 3}
    assert client.get("/read?count=0").status_code == 422
