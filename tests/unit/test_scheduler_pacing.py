from __future__ import annotations

from typing import Any

from recommendation_engine.service.scheduler import ModelScheduler


def scheduler(interval: float) -> ModelScheduler:
    unused: Any = None
    return ModelScheduler(unused, unused, unused, update_interval=interval)


def test_a_quick_tick_waits_the_update_interval() -> None:
    assert scheduler(10).pause(0.3) == 10
    assert scheduler(10).pause(10) == 10


def test_a_long_tick_is_followed_by_as_long_a_pause() -> None:
    # A minute of training on a large tenant leaves the next minute to requests.
    assert scheduler(10).pause(65.5) == 65.5
