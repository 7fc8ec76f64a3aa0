from __future__ import annotations

from recommendation_engine.storage.embedded import TUNING, needs_tuning, shared_buffers

GIB = 2**30


def test_the_buffer_pool_is_a_quarter_of_memory_within_bounds() -> None:
    assert shared_buffers(16 * GIB) == "4GB"
    assert shared_buffers(23 * GIB) == "5GB"  # whole gigabytes, as SHOW prints them
    assert shared_buffers(1 * GIB) == "256MB"
    assert shared_buffers(256 * 2**20) == "128MB"
    assert shared_buffers(64 * GIB) == "8GB"


def test_only_settings_that_differ_are_changed() -> None:
    current = dict(TUNING, work_mem="4MB")
    assert needs_tuning(current) == {"work_mem": TUNING["work_mem"]}
    assert needs_tuning(dict(TUNING)) == {}
