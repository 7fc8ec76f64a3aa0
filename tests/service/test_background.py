"""Background work: periodic jobs (interval, wake-ups, failures, stopping, several
workers) and one-off tasks (kept while they run, cancelled on stop)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from recommendation_engine.service.background import BackgroundTasks, PeriodicJob


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


async def until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


class Recorder:
    """Work that notes when each run starts and ends."""

    def __init__(self, duration: float = 0.0, again: int = 0) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.duration = duration
        self.again = again  # this many runs ask for another at once

    async def __call__(self) -> bool:
        self.starts.append(time.monotonic())
        await asyncio.sleep(self.duration)
        self.ends.append(time.monotonic())
        return len(self.starts) <= self.again


def test_it_runs_at_start_then_each_interval_after_a_run_ends() -> None:
    work = Recorder(duration=0.1)

    async def scenario() -> None:
        job = PeriodicJob("test-job", work, interval=0.15)
        job.start()
        await until(lambda: len(work.starts) >= 1, 1.0)  # at once
        await until(lambda: len(work.starts) >= 4)
        await job.stop()

    run(scenario)
    for ended, next_start in zip(work.ends, work.starts[1:], strict=False):
        assert next_start - ended >= 0.14  # the interval counts from the end of a run


def test_wake_runs_it_at_once() -> None:
    work = Recorder()

    async def scenario() -> None:
        job = PeriodicJob("test-job", work, interval=60)
        job.start()
        await until(lambda: len(work.starts) == 1)
        await asyncio.sleep(0.1)
        assert len(work.starts) == 1  # waits for its interval
        woken = time.monotonic()
        job.wake()
        await until(lambda: len(work.starts) == 2, 1.0)
        assert work.starts[1] - woken < 0.5
        await job.stop()

    run(scenario)


def test_a_wake_up_during_a_run_is_not_lost() -> None:
    release = asyncio.Event()
    runs: list[float] = []

    async def work() -> None:
        runs.append(time.monotonic())
        if len(runs) == 1:
            await release.wait()

    async def scenario() -> None:
        job = PeriodicJob("test-job", work, interval=60)
        job.start()
        await until(lambda: len(runs) == 1)
        job.wake()  # while the first run is still going
        release.set()
        await until(lambda: len(runs) == 2, 1.0)
        await asyncio.sleep(0.1)
        assert len(runs) == 2  # then it waits again
        await job.stop()

    run(scenario)


def test_work_that_asks_for_more_runs_again_without_waiting() -> None:
    work = Recorder(again=3)

    async def scenario() -> None:
        job = PeriodicJob("test-job", work, interval=60)
        job.start()
        await until(lambda: len(work.starts) == 4, 1.0)
        await asyncio.sleep(0.1)
        assert len(work.starts) == 4  # the fourth said nothing more is waiting
        await job.stop()

    run(scenario)


def test_a_failing_run_is_logged_and_retried_after_the_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[float] = []

    async def work() -> None:
        runs.append(time.monotonic())
        if len(runs) == 1:
            raise RuntimeError("the database is away")

    async def scenario() -> None:
        job = PeriodicJob("flaky-job", work, interval=0.3)
        job.start()
        await until(lambda: len(runs) == 1)
        for _ in range(5):  # wake-ups do not cut the pause after a failure short
            job.wake()
            await asyncio.sleep(0.02)
        await until(lambda: len(runs) == 2)
        assert job.running
        job.wake()  # after a success they do again
        await until(lambda: len(runs) == 3, 1.0)
        await job.stop()

    with caplog.at_level(logging.ERROR):
        run(scenario)
    assert runs[1] - runs[0] >= 0.29
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1
    assert "flaky-job failed; trying again in 0.3 s" in failures[0].getMessage()
    assert failures[0].exc_info is not None and "the database is away" in caplog.text


def test_failures_are_logged_where_the_job_says() -> None:
    owner = logging.getLogger("tests.background.owner")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    async def work() -> None:
        raise ValueError("bad")

    async def scenario() -> None:
        job = PeriodicJob("owned-job", work, interval=60, log=owner)
        job.start()
        await until(lambda: bool(seen))
        await job.stop()

    handler = Keep()
    owner.addHandler(handler)
    try:
        run(scenario)
    finally:
        owner.removeHandler(handler)
    assert seen[0].name == "tests.background.owner"


def test_stop_cancels_a_run_in_progress_promptly() -> None:
    cancelled: list[bool] = []

    async def work() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def scenario() -> None:
        job = PeriodicJob("slow-job", work, interval=60)
        job.start()
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await job.stop()
        assert time.monotonic() - started < 1.0
        assert not job.running

    run(scenario)
    assert cancelled == [True]


def test_it_stops_while_waiting_and_can_start_again() -> None:
    work = Recorder()

    async def scenario() -> None:
        job = PeriodicJob("test-job", work, interval=60)
        await job.stop()  # never started: nothing to do
        job.start()
        job.start()  # started already: still one loop
        await until(lambda: len(work.starts) == 1)
        assert len([t for t in asyncio.all_tasks() if t.get_name() == "test-job"]) == 1
        await job.stop()
        job.wake()  # stopped: nothing happens
        await asyncio.sleep(0.05)
        assert len(work.starts) == 1
        job.start()
        await until(lambda: len(work.starts) == 2, 1.0)
        await job.stop()
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "test-job"]

    run(scenario)


def test_several_workers_run_side_by_side_and_all_wake() -> None:
    inside = 0
    most_inside = 0
    runs: dict[str, int] = {}

    async def work() -> None:
        nonlocal inside, most_inside
        name = asyncio.current_task().get_name()  # type: ignore[union-attr]
        runs[name] = runs.get(name, 0) + 1
        inside += 1
        most_inside = max(most_inside, inside)
        await asyncio.sleep(0.1)
        inside -= 1

    async def scenario() -> None:
        job = PeriodicJob("indexer", work, interval=60, workers=2)
        job.start()
        await until(lambda: runs == {"indexer-0": 1, "indexer-1": 1})
        await asyncio.sleep(0.15)
        job.wake()
        await until(lambda: runs == {"indexer-0": 2, "indexer-1": 2}, 1.0)
        await job.stop()

    run(scenario)
    assert most_inside == 2


def test_a_job_needs_a_worker() -> None:
    async def work() -> None:
        return None

    with pytest.raises(ValueError):
        PeriodicJob("none", work, interval=1, workers=0)


def test_max_busy_rests_in_proportion_to_each_run() -> None:
    work = Recorder(duration=0.1, again=100)  # always asks for more at once

    async def scenario() -> None:
        job = PeriodicJob("test-job", work, interval=60, max_busy=0.25)
        job.start()
        await until(lambda: len(work.starts) >= 3, 5.0)
        job.wake()  # a wake-up does not cut the rest short
        await until(lambda: len(work.starts) >= 4, 5.0)
        await job.stop()

    run(scenario)
    for ended, next_start, started in zip(work.ends, work.starts[1:], work.starts, strict=False):
        # a run of d seconds is followed by at least 3 d of rest (busy a quarter of the time)
        assert next_start - ended >= 3 * (ended - started) * 0.95


def test_max_busy_is_a_fraction() -> None:
    for wrong in (0, -0.5, 1.5):
        with pytest.raises(ValueError):
            PeriodicJob("test-job", Recorder(), interval=1, max_busy=wrong)


def test_one_off_tasks_are_kept_while_they_run_and_cancelled_on_stop() -> None:
    async def scenario() -> None:
        tasks = BackgroundTasks()
        ended: list[str] = []
        cancelled: list[str] = []

        async def quick() -> None:
            ended.append("quick")

        async def endless() -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append("endless")
                raise

        done: list[asyncio.Task[None]] = []
        first = tasks.start(quick(), "quick", done.append)
        second = tasks.start(endless(), "endless")
        assert first.get_name() == "quick" and len(tasks) == 2
        await until(lambda: len(tasks) == 1)
        assert ended == ["quick"] and done == [first] and list(tasks) == [second]

        await tasks.stop()
        assert cancelled == ["endless"] and second.cancelled() and len(tasks) == 0

    run(scenario)
