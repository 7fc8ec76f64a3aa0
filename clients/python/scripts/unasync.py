"""Write src/recommendation_client/_sync_endpoints.py from _async_endpoints.py.

Usage: python scripts/unasync.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "recommendation_client"
REPLACEMENTS = [
    ("Every API method of AsyncRecommendationClient. ``_sync_endpoints.py`` is made from\nthis file",
     "Every API method of RecommendationClient. Made from ``_async_endpoints.py``"),
    ("AsyncEndpoints", "SyncEndpoints"),
    ("AsyncIterator", "Iterator"),
    ("Awaitable[m.BulkResult]", "m.BulkResult"),
    ("Awaitable, ", ""),
    ("async def ", "def "),
    ("async for ", "for "),
    ("await ", ""),
]


def transform(source: str) -> str:
    for old, new in REPLACEMENTS:
        source = source.replace(old, new)
    return source


def main() -> int:
    generated = transform((PACKAGE / "_async_endpoints.py").read_text())
    target = PACKAGE / "_sync_endpoints.py"
    if "--check" in sys.argv:
        if target.read_text() != generated:
            print(f"{target} is out of date: run python scripts/unasync.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(generated)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
