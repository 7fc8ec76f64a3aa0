"""Synthetic catalogues and interaction logs with power-law (Zipf-like) popularity."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

CATEGORIES = [f"category-{i}" for i in range(60)]
BRANDS = [f"brand-{i}" for i in range(400)]
WORDS = [f"word{i}" for i in range(2000)]
TAGS = [f"tag-{i}" for i in range(1000)]
INTERACTION_TYPES = [
    "view",
    "view",
    "view",
    "view",
    "click",
    "click",
    "like",
    "add_to_cart",
    "purchase",
]


def entity_id(index: int) -> str:
    return f"item-{index}"


def user_id(index: int) -> str:
    return f"user-{index}"


def entities(count: int, seed: int = 7, entity_type: str = "product") -> Iterator[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    for index in range(count):
        tags = rng.choice(TAGS, size=int(rng.integers(1, 6)), replace=False, p=_zipf(len(TAGS)))
        title = " ".join(rng.choice(WORDS, size=int(rng.integers(2, 7))))
        yield {
            "entity_id": entity_id(index),
            "entity_type": entity_type,
            "attributes": {
                "title": title,
                "category": CATEGORIES[int(rng.zipf(1.6) - 1) % len(CATEGORIES)],
                "brand": BRANDS[int(rng.integers(0, len(BRANDS)))],
                "price": round(float(rng.lognormal(3.5, 1.0)), 2),
                "tags": [str(t) for t in tags],
                "in_stock": bool(rng.random() < 0.9),
            },
        }


_ZIPF_CACHE: dict[int, np.ndarray] = {}


def _zipf(n: int, exponent: float = 1.0) -> np.ndarray:
    if n not in _ZIPF_CACHE:
        weights = 1.0 / np.arange(1, n + 1) ** exponent
        _ZIPF_CACHE[n] = weights / weights.sum()
    return _ZIPF_CACHE[n]


def interactions(
    count: int,
    n_entities: int,
    n_users: int,
    seed: int = 11,
    entity_type: str = "product",
    end: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """``count`` interactions over 300 days up to ``end`` (default: 2026-10-28);
    entity popularity and user activity both follow power laws."""
    rng = np.random.default_rng(seed)
    item_p = _zipf(n_entities, 0.9)
    user_p = _zipf(n_users, 0.6)
    start = (end - timedelta(days=300)) if end else datetime(2026, 1, 1, tzinfo=UTC)
    chunk = 100_000
    done = 0
    while done < count:
        size = min(chunk, count - done)
        items = rng.choice(n_entities, size=size, p=item_p)
        users = rng.choice(n_users, size=size, p=user_p)
        kinds = rng.integers(0, len(INTERACTION_TYPES), size=size)
        offsets = np.sort(rng.integers(0, 300 * 86400, size=size))
        for k in range(size):
            yield {
                "user_id": user_id(int(users[k])),
                "entity_id": entity_id(int(items[k])),
                "entity_type": entity_type,
                "interaction_type": INTERACTION_TYPES[int(kinds[k])],
                "timestamp": (start + timedelta(seconds=int(offsets[k]))).isoformat(),
            }
        done += size
