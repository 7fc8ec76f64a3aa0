"""The in-process sliding-window counter behind rate limiting without Redis."""

from __future__ import annotations

import pytest

from recommendation_engine.api.rate_limit import LocalWindows


def test_a_burst_is_allowed_and_the_next_request_waits_for_the_window() -> None:
    windows = LocalWindows(amount=5, seconds=10)
    assert [windows.hit("a", 100.0 + i * 0.1) for i in range(5)] == [None] * 5
    wait = windows.hit("a", 101.0)
    assert wait == pytest.approx(9.0)  # the window 100-110 is full
    assert windows.hit("b", 101.0) is None  # another client counts on its own


def test_the_previous_window_counts_with_its_remaining_share() -> None:
    windows = LocalWindows(amount=10, seconds=10)
    for _ in range(10):
        assert windows.hit("a", 105.0) is None
    # At 112 the sliding window 102-112 still holds 80 % of the ten: 8 of 10, so two fit.
    assert windows.hit("a", 112.0) is None
    assert windows.hit("a", 112.0) is None
    wait = windows.hit("a", 112.0)
    assert wait is not None and wait > 0
    # After that wait the weight of the old window has fallen enough for one more.
    assert windows.hit("a", 112.0 + wait + 1e-6) is None


def test_refused_requests_are_not_counted() -> None:
    windows = LocalWindows(amount=1, seconds=1)
    assert windows.hit("a", 10.0) is None
    for _ in range(100):
        assert windows.hit("a", 10.5) is not None
    assert windows.hit("a", 12.0) is None  # two windows later, nothing of it is left


def test_idle_clients_are_forgotten() -> None:
    windows = LocalWindows(amount=3, seconds=1)
    for n in range(1000):
        windows.hit(f"client-{n}", 5.0)
    windows.hit("late", 8.0)
    assert len(windows._counts) == 1
