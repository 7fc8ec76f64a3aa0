"""Progress bars for the long command-line jobs: drawn on standard error when it is a
terminal, and nothing at all otherwise (a pipe, a log file, a CI job)."""

from __future__ import annotations

import sys

from tqdm import tqdm


def bar(description: str, total: int | None = None, unit: str = "it") -> tqdm:
    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        dynamic_ncols=True,
        leave=False,
    )
