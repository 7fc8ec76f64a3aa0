"""Cache keys carry every parameter and the service's version."""

from __future__ import annotations

import pytest

from recommendation_engine.storage import cache


def test_keys_differ_by_parameter_and_by_release(monkeypatch: pytest.MonkeyPatch) -> None:
    key = cache.digest("user", "u1", 10)
    assert key == cache.digest("user", "u1", 10)
    assert key != cache.digest("user", "u1", 11)
    monkeypatch.setattr(cache, "__version__", "next-release")
    assert cache.digest("user", "u1", 10) != key  # a rolling update reads no other's answers
