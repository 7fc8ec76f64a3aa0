"""Heavy background computation (model training, offline evaluation) on threads of a
lower scheduling priority than the ones answering requests.

The fit and the tuning run numpy and scipy code that releases the GIL for most of its
time, so on a machine whose cores are busy answering requests the operating system's
scheduler decides who gets the CPU. These threads ask it to prefer everything else
(``nice`` 10, per thread on Linux): requests and the database go first, and training
takes what they leave. Where a thread's priority cannot be changed, it runs as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

# How much lower than the serving threads (0, the default, to 19, the lowest).
NICENESS = 10
WORKERS = 2

P = ParamSpec("P")
R = TypeVar("R")


def _lower_this_thread() -> None:
    """Lower the calling thread's priority to NICENESS (never raise it)."""
    with contextlib.suppress(AttributeError, OSError):
        thread = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, max(current, NICENESS))


_executor = ThreadPoolExecutor(
    max_workers=WORKERS, thread_name_prefix="low-priority", initializer=_lower_this_thread
)


async def run(work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``work(*args, **kwargs)`` on a low-priority thread, awaited."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, functools.partial(work, *args, **kwargs))


def priority_of_current_thread() -> int:
    """The calling thread's niceness (for tests)."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
