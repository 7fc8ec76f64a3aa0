from __future__ import annotations

from pathlib import Path

from recommendation_engine.storage.embedded import (
    TUNING,
    memory_bytes,
    needs_tuning,
    shared_buffers,
)

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


def test_a_container_limit_lowers_the_memory_taken_into_account(tmp_path: Path) -> None:
    machine = memory_bytes(tmp_path)  # no cgroup files: the machine's memory
    (tmp_path / "memory.max").write_text("max\n")  # cgroup v2 without a limit
    assert memory_bytes(tmp_path) == machine
    (tmp_path / "memory.max").write_text(f"{GIB}\n")
    assert memory_bytes(tmp_path) == min(machine, GIB)
    (tmp_path / "memory.max").unlink()
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text(f"{2 * GIB}\n")  # cgroup v1
    assert memory_bytes(tmp_path) == min(machine, 2 * GIB)
