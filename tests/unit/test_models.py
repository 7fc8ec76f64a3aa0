"""Identifier rules and input validation shared by single and bulk requests."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from recommendation_engine.models import (
    ID_PATTERN,
    NAME_PATTERN,
    EntityInput,
    InteractionInput,
    is_valid_id,
    is_valid_name,
)

VALID_IDS = ["user@x.com", "sku:12", "a", "A-Z_0.9+=~", "x" * 255, ".a", "..b", "a..", "-"]
INVALID_IDS = [
    *("a/b", "a b", " a", "a\n", "a\tb", "", "x" * 256, "x';DROP", "é", "a?b", "a#b"),
    *(".", "..", "...", "." * 255),  # path segments, not ids
]


@pytest.mark.parametrize("value", VALID_IDS)
def test_id_pattern_accepts(value: str) -> None:
    assert re.fullmatch(ID_PATTERN, value)
    assert is_valid_id(value)
    assert EntityInput(entity_id=value, entity_type="product").entity_id == value


@pytest.mark.parametrize("value", INVALID_IDS)
def test_id_pattern_rejects(value: str) -> None:
    assert not is_valid_id(value)
    with pytest.raises(ValidationError) as error:
        EntityInput(entity_id=value, entity_type="product")
    assert error.value.errors()[0]["loc"] == ("entity_id",)


def test_names_are_shorter_and_stricter_than_ids() -> None:
    assert re.fullmatch(NAME_PATTERN, "add_to_cart")
    assert is_valid_name("x" * 64)
    assert not is_valid_name("x" * 65)
    assert not is_valid_name("user@x.com")
    assert not is_valid_name("")
    assert not is_valid_name("tenant\n")


def test_entity_input_rejects_unknown_fields_and_non_finite_vectors() -> None:
    with pytest.raises(ValidationError):
        EntityInput.model_validate({"entity_id": "a", "entity_type": "t", "colour": "red"})
    with pytest.raises(ValidationError, match="finite"):
        EntityInput(entity_id="a", entity_type="t", feature_vector=[0.0, float("inf")])
    with pytest.raises(ValidationError, match="finite"):
        EntityInput(entity_id="a", entity_type="t", feature_vector=[float("nan")])


def test_interaction_input_validates_ids_weights_and_event_ids() -> None:
    ok = InteractionInput(user_id="u@x.com", entity_id="sku:1", interaction_type="view")
    assert ok.entity_type is None and ok.weight is None and ok.event_id is None
    for bad in (
        {"user_id": "a b"},
        {"entity_id": "a/b"},
        {"weight": float("nan")},
        {"value": float("inf")},
        {"event_id": "has space"},
        {"interaction_type": "no spaces"},
    ):
        with pytest.raises(ValidationError):
            InteractionInput.model_validate(
                {"user_id": "u", "entity_id": "e", "interaction_type": "view", **bad}
            )


def test_export_is_a_reserved_entity_id() -> None:
    with pytest.raises(ValidationError, match="reserved"):
        EntityInput(entity_id="export", entity_type="t")
    assert EntityInput(entity_id="exports", entity_type="t").entity_id == "exports"


def test_effective_weight_rules() -> None:
    from recommendation_engine.models import effective_weight

    assert effective_weight(2.5, 4.0, 5.0) == 2.5  # explicit wins
    assert effective_weight(None, 4.0, 5.0) == 20.0  # type weight x value
    assert effective_weight(None, None, 5.0) == 5.0  # no value: x 1
    assert effective_weight(None, 3.0, None) == 3.0  # unknown type: weight 1
    # A factor out of range (a row stored before ranges were enforced) counts for nothing.
    assert effective_weight(None, 1e308, 5.0) is None
    assert effective_weight(float("nan"), None, None) is None
    assert effective_weight(None, 2.0, 2e6) is None
    assert effective_weight(-1e6, None, None) == -1e6


def test_effective_weights_agree_with_the_rule_for_one_interaction() -> None:
    import itertools
    import math

    import numpy as np

    from recommendation_engine.models import effective_weight, effective_weights

    factors = [None, 0.0, 2.5, -3.0, 1e6, -1e6, 1e308, float("nan"), float("inf")]
    cases = list(itertools.product(factors, factors, [None, 5.0, 2e6, float("nan")]))
    weights, valid = effective_weights(
        np.array([w is not None for w, _, _ in cases]),
        np.array([0.0 if w is None else w for w, _, _ in cases]),
        np.array([1.0 if t is None else t for _, _, t in cases]),
        np.array([1.0 if v is None else v for _, v, _ in cases]),
    )
    for (weight, value, type_weight), got, ok in zip(cases, weights, valid, strict=True):
        expected = effective_weight(weight, value, type_weight)
        assert ok == (expected is not None), (weight, value, type_weight)
        if expected is not None:
            assert math.isclose(got, expected) or got == expected == 0.0
