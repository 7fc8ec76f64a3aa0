"""Handing freed memory back to the operating system.

A fit frees many arrays of a few megabytes each. glibc keeps such blocks in its heap
for reuse instead of unmapping them, so the process's resident memory would stay at
its peak; `release_freed` asks it to return what is free. Elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache


@lru_cache(maxsize=1)
def _malloc_trim() -> ctypes._CFuncPtr | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc
        return None


def release_freed() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
