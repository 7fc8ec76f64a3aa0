"""Heavy background computation at a lower scheduling priority than request handling.

Training (a full rebuild's fit and tuning, and an incremental update's counting) runs
in a worker process of its own (`apart`): its Python parts then never hold the serving
process's GIL, and at ``nice`` 10, on a machine whose cores are busy answering
requests, requests and the database go first and training takes what they leave. The
worker is started on first use and kept, and keeps what updates need between calls
(`model_worker`); arguments and results travel pickled. If it dies (killed for memory,
say) the work in hand fails and the next call starts a new one.

Work that reports progress as it goes (offline evaluation) runs on threads of the same
lower priority (`run`), per thread on Linux.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

# How much lower than request handling (0, the default, to 19, the lowest).
NICENESS = 10
THREADS = 2

P = ParamSpec("P")
R = TypeVar("R")


def _lower_this_thread() -> None:
    """Lower the calling thread's priority to NICENESS (never raise it)."""
    with contextlib.suppress(AttributeError, OSError):
        thread = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, max(current, NICENESS))


_threads = ThreadPoolExecutor(
    max_workers=THREADS, thread_name_prefix="low-priority", initializer=_lower_this_thread
)
_process: ProcessPoolExecutor | None = None
_process_lock = threading.Lock()


def _worker() -> ProcessPoolExecutor:
    global _process
    with _process_lock:
        if _process is None:
            # Spawned, not forked: the serving process has threads and an event loop.
            _process = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_lower_this_thread,
            )
        return _process


async def run(work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``work(*args, **kwargs)`` on a low-priority thread of this process, awaited."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_threads, functools.partial(work, *args, **kwargs))


async def apart(work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``work(*args, **kwargs)`` in the low-priority worker process, awaited. ``work``
    must be a module-level function, and its arguments and result picklable."""
    executor = _worker()
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(executor, functools.partial(work, *args, **kwargs))
    except BrokenProcessPool:
        _discard(executor)
        raise


def _discard(executor: ProcessPoolExecutor) -> None:
    global _process
    with _process_lock:
        if _process is executor:
            _process = None
    executor.shutdown(wait=False, cancel_futures=True)


def stop() -> None:
    """Stop the worker process at once, work in hand included (a build cut short is
    redone later)."""
    executor = _process
    if executor is None:
        return
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            process.kill()
    _discard(executor)


def priority_of_current_thread() -> int:
    """The calling thread's niceness."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
