"""Training runs apart from request handling, at a lower priority."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

from recommendation_engine.service import low_priority


def _where_and_how_nice(values: np.ndarray) -> tuple[int, int, float]:
    return os.getpid(), low_priority.priority_of_current_thread(), float(values.sum())


def _fail() -> None:
    raise ValueError("no")


def test_threads_run_at_a_lower_priority_and_the_caller_keeps_its_own() -> None:
    serving = low_priority.priority_of_current_thread()

    def work() -> tuple[int, int]:
        return threading.get_native_id(), low_priority.priority_of_current_thread()

    thread, niceness = asyncio.run(low_priority.run(work))
    assert thread != threading.get_native_id()
    assert niceness >= max(serving, low_priority.NICENESS)  # lowered, never raised
    assert low_priority.priority_of_current_thread() == serving


def test_work_apart_runs_in_another_process_at_a_lower_priority() -> None:
    serving = low_priority.priority_of_current_thread()
    pid, niceness, total = asyncio.run(low_priority.apart(_where_and_how_nice, np.arange(10.0)))
    assert pid != os.getpid()
    assert niceness >= max(serving, low_priority.NICENESS)
    assert total == 45.0  # the arguments went there and the result came back
    again, _, _ = asyncio.run(low_priority.apart(_where_and_how_nice, np.zeros(1)))
    assert again == pid  # the worker is kept
    assert low_priority.priority_of_current_thread() == serving


def test_errors_apart_reach_the_caller() -> None:
    with pytest.raises(ValueError, match="no"):
        asyncio.run(low_priority.apart(_fail))


def test_a_dead_worker_fails_the_work_in_hand_and_the_next_call_starts_another() -> None:
    pid, _, _ = asyncio.run(low_priority.apart(_where_and_how_nice, np.zeros(1)))
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(BrokenProcessPool):
        asyncio.run(low_priority.apart(_where_and_how_nice, np.zeros(1)))
    fresh, _, _ = asyncio.run(low_priority.apart(_where_and_how_nice, np.zeros(1)))
    assert fresh != pid


def test_stop_ends_the_worker() -> None:
    pid, _, _ = asyncio.run(low_priority.apart(_where_and_how_nice, np.zeros(1)))
    low_priority.stop()
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            os.kill(pid, 0)
            threading.Event().wait(0.05)
    fresh, _, _ = asyncio.run(low_priority.apart(_where_and_how_nice, np.zeros(1)))
    assert fresh != pid
