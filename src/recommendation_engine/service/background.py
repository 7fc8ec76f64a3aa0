"""Background work of a replica: periodic jobs, and one-off tasks a service starts.

Every loop the service runs in the background (the model scheduler, the vector indexer,
the webhook dispatcher and its pruning, the pool gauges) is a `PeriodicJob`:

- it runs its work once at `start`, then again ``interval`` seconds after each run ends,
  or as soon as `wake` is called (a wake-up that comes during a run is not lost: the
  next run follows at once); work that returns True is run again at once, without a
  pause (more is waiting);
- an exception in a run is logged with the job's name and the job carries on a full
  ``interval`` later, wake-ups or not, so a failing dependency is not hammered;
- `stop` cancels the run in progress and returns once it has ended;
- with ``workers`` above one, that many loops do the work side by side, every one of
  them woken by `wake` (for work they share out among themselves, such as rows taken
  with ``FOR UPDATE SKIP LOCKED``);
- with ``max_busy`` (a fraction of the time), a run of ``d`` seconds is followed by a
  rest of at least ``d * (1 - max_busy) / max_busy``, wake-ups and requests for more
  notwithstanding: however long its runs grow, the job takes at most that share of a
  core from the requests the replica serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

logger = logging.getLogger(__name__)

# One run of a job's work; True asks for another run at once.
Work = Callable[[], Awaitable[bool | None]]


class BackgroundTasks:
    """One-off tasks a service starts in the background (a rebuild, an evaluation, a
    cache warm-up): each is kept until it ends; `stop` cancels those still running and
    returns once they have ended."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()

    def start(
        self,
        work: Coroutine[Any, Any, None],
        name: str,
        done: Callable[[asyncio.Task[None]], object] | None = None,
    ) -> asyncio.Task[None]:
        """Run ``work`` as a task named ``name``; ``done`` is called when it ends."""
        task = asyncio.create_task(work, name=name)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        if done is not None:
            task.add_done_callback(done)
        return task

    def __iter__(self) -> Iterator[asyncio.Task[None]]:
        return iter(list(self._running))

    def __len__(self) -> int:
        return len(self._running)

    async def stop(self) -> None:
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)


class PeriodicJob:
    def __init__(
        self,
        name: str,
        work: Work,
        interval: float,
        *,
        workers: int = 1,
        max_busy: float | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("a job needs at least one worker")
        if max_busy is not None and not 0 < max_busy <= 1:
            raise ValueError("max_busy is a fraction of the time, above 0 and at most 1")
        self.max_busy = max_busy
        self.name = name
        self.interval = interval
        self._work = work
        self._workers = workers
        self._log = log or logger
        self._tasks: list[asyncio.Task[None]] = []
        self._wake: list[asyncio.Event] = []

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        """Start the job's loops (a job started already is left as it is). Their tasks
        are named after the job, numbered when there are several."""
        if self._tasks:
            return
        self._wake = [asyncio.Event() for _ in range(self._workers)]
        names = (
            [self.name]
            if self._workers == 1
            else [f"{self.name}-{n}" for n in range(self._workers)]
        )
        self._tasks = [
            asyncio.create_task(self._loop(name, wake), name=name)
            for name, wake in zip(names, self._wake, strict=True)
        ]

    def wake(self) -> None:
        """Run the work now rather than at the end of the interval."""
        for event in self._wake:
            event.set()

    async def stop(self) -> None:
        """Cancel the job's loops and wait for them to end."""
        tasks, self._tasks, self._wake = self._tasks, [], []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self, name: str, wake: asyncio.Event) -> None:
        while True:
            wake.clear()
            started = time.monotonic()
            try:
                again = await self._work()
            except Exception:
                self._log.exception("%s failed; trying again in %g s", name, self.interval)
                await asyncio.sleep(self.interval)
                continue
            if self.max_busy is not None and self.max_busy < 1:
                rest = (time.monotonic() - started) * (1 - self.max_busy) / self.max_busy
                await asyncio.sleep(rest)
            if again is True:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await wake.wait()
