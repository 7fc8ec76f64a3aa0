"""Feature vectors from attributes: shape, normalisation, determinism and similarity."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from recommendation_engine.engine.features import cosine, extract_features

DIM = 512


def vec(attributes: dict) -> np.ndarray:
    return extract_features(attributes, DIM)


def sim(a: dict, b: dict) -> float:
    return cosine(vec(a), vec(b))


@pytest.mark.parametrize("dimension", [8, 64, 512, 4000])
def test_vector_has_the_requested_dimension_and_unit_norm(dimension: int) -> None:
    vector = extract_features({"category": "electronics", "price": 99.99}, dimension)
    assert vector.shape == (dimension,)
    assert vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, rel=1e-5)


def test_same_attributes_give_the_same_vector() -> None:
    attributes = {"name": "Wireless Headphones", "tags": ["audio", "bluetooth"], "price": 10}
    assert np.array_equal(vec(attributes), vec(dict(attributes)))


def test_vectors_do_not_depend_on_the_process_hash_seed() -> None:
    code = (
        "from recommendation_engine.engine.features import extract_features;"
        "print(extract_features({'brand': 'acme', 'tags': ['x', 'y']}, 64).tobytes().hex())"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(result.stdout.strip())
    expected = extract_features({"brand": "acme", "tags": ["x", "y"]}, 64).tobytes().hex()
    assert outputs == {expected}


def test_shared_attributes_are_more_similar_than_unrelated_ones() -> None:
    base = {"category": "electronics", "brand": "acme", "color": "black"}
    close = {"category": "electronics", "brand": "acme", "color": "white"}
    unrelated = {"category": "books", "brand": "penguin", "color": "red"}
    assert sim(base, close) > 0.5
    assert sim(base, close) > sim(base, unrelated) + 0.3


def test_string_values_ignore_case_and_surrounding_space() -> None:
    assert np.allclose(vec({"Category": " Electronics "}), vec({"category": "electronics"}))


def test_numbers_close_in_value_are_more_similar_than_far_ones() -> None:
    price = {"price": 100}
    assert sim(price, {"price": 110}) > sim(price, {"price": 10_000}) + 0.3
    assert sim(price, {"price": 100.0}) == pytest.approx(1.0)


def test_negative_numbers_differ_from_positive_ones() -> None:
    assert sim({"delta": 50}, {"delta": -50}) < 0.5


@pytest.mark.parametrize(
    "attributes",
    [{}, {"name": None}, {"name": ""}, {"name": "   "}, {"tags": []}, {"x": float("nan")}],
)
def test_attributes_without_usable_values_give_the_zero_vector(attributes: dict) -> None:
    vector = vec(attributes)
    assert vector.shape == (DIM,)
    assert not np.any(vector)


def test_nested_objects_are_flattened_into_dotted_keys() -> None:
    nested = vec({"brand": {"name": "Acme", "country": "SE"}})
    assert np.linalg.norm(nested) == pytest.approx(1.0, rel=1e-5)
    assert np.allclose(nested, vec({"brand.name": "Acme", "brand.country": "SE"}))
    assert sim({"brand": {"name": "Acme"}}, {"brand": {"name": "Other"}}) < 0.5


def test_list_items_are_features_regardless_of_order() -> None:
    tags = {"tags": ["audio", "wireless", "bluetooth"]}
    assert np.allclose(vec(tags), vec({"tags": ["bluetooth", "audio", "wireless"]}))
    shared = sim(tags, {"tags": ["audio", "wireless", "usb"]})
    disjoint = sim(tags, {"tags": ["garden", "tools", "outdoor"]})
    assert shared > 0.5
    assert shared > disjoint + 0.3


def test_booleans_are_their_own_features() -> None:
    assert sim({"in_stock": True}, {"in_stock": True}) == pytest.approx(1.0)
    assert sim({"in_stock": True}, {"in_stock": False}) < 0.5
    # a boolean is not the number 1
    assert sim({"flag": True}, {"flag": 1}) < 0.5


def test_long_text_shares_word_tokens() -> None:
    text = {"name": "wireless noise cancelling headphones"}
    overlapping = sim(text, {"name": "wireless bluetooth headphones"})
    unrelated = sim(text, {"name": "garden hose reel"})
    assert overlapping > 0.05
    assert overlapping > unrelated + 0.05


def test_cosine_of_a_zero_vector_is_zero() -> None:
    assert cosine(vec({}), vec({"a": "b"})) == 0.0
