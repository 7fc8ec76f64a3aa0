"""The serving process leaves full collections to a timer (`api.garbage_collection`)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from recommendation_engine.api.garbage_collection import GarbageCollection


class Node:
    def __init__(self) -> None:
        self.other: Any = self


def test_full_collections_run_on_the_timer_only_and_stop_with_it() -> None:
    before = gc.get_threshold()
    collected: list[int] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            collected.append(info["generation"])

    async def scenario() -> None:
        collection = GarbageCollection(interval=0.3)
        collection.start()
        try:
            assert gc.get_threshold()[:2] == before[:2]
            assert gc.get_threshold()[2] > 10**8
            gc.callbacks.append(note)
            try:
                # Many survivors of young collections, which would have Python run a
                # full collection by its own thresholds: none runs.
                kept = [Node() for _ in range(200_000)]
                assert 0 in collected
                assert 2 not in collected
                await asyncio.sleep(0.7)  # the timer's turn
                assert 2 in collected
                del kept
            finally:
                gc.callbacks.remove(note)
        finally:
            await collection.stop()
        assert gc.get_threshold() == before

    asyncio.run(scenario())
    gc.unfreeze()
