"""Training and evaluation threads yield the CPU to the threads answering requests."""

from __future__ import annotations

import asyncio
import os
import threading

from recommendation_engine.service import low_priority


def test_work_runs_on_a_thread_of_lower_priority_and_the_caller_keeps_its_own() -> None:
    serving = low_priority.priority_of_current_thread()

    def work(offset: int) -> tuple[int, int]:
        return threading.get_native_id() + offset, low_priority.priority_of_current_thread()

    thread, niceness = asyncio.run(low_priority.run(work, 0))
    assert thread != threading.get_native_id()
    assert niceness >= max(serving, low_priority.NICENESS)  # lowered, never raised
    assert low_priority.priority_of_current_thread() == serving
    assert os.getpriority(os.PRIO_PROCESS, 0) == serving  # the process as a whole


def test_errors_reach_the_caller() -> None:
    def fail() -> None:
        raise ValueError("no")

    try:
        asyncio.run(low_priority.run(fail))
    except ValueError as error:
        assert str(error) == "no"
    else:
        raise AssertionError("the error was lost")
