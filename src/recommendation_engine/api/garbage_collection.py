"""How the serving process collects cyclic garbage.

A replica keeps model data in caches of its own (`service.item_lists`,
`service.entity_rows`): a hundred thousand objects and more, renewed as requests move
over the catalogue. Python's full collection walks every one of them, and that renewal
alone has it run about once every thousand requests: some 75 ms in which nothing is
served, on the benchmark's 100k catalogue, and 2-3 % of the user route's CPU.

So what exists once the service has started is frozen out of collection (`gc.freeze`),
young objects are collected as Python collects them, and the full collection runs on a
timer instead: every `FULL_COLLECTION_SECONDS`.
"""

from __future__ import annotations

import gc

from recommendation_engine.service.background import PeriodicJob

FULL_COLLECTION_SECONDS = 600.0
# A threshold for full collections that the young generations never reach.
_NEVER = 1_000_000_000


class GarbageCollection:
    def __init__(self, interval: float = FULL_COLLECTION_SECONDS) -> None:
        self._job = PeriodicJob("full-collection", self._collect, interval)
        self._thresholds = gc.get_threshold()

    def start(self) -> None:
        """Freeze what exists, leave full collections to the timer."""
        gc.collect()
        gc.freeze()
        young, middle, _ = self._thresholds
        gc.set_threshold(young, middle, _NEVER)
        self._job.start()

    async def stop(self) -> None:
        """Stop the timer; Python's own thresholds apply again."""
        await self._job.stop()
        gc.set_threshold(*self._thresholds)

    @staticmethod
    async def _collect() -> None:
        gc.collect()
