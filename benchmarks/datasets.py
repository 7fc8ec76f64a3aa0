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
    """``count`` products: a title of 2 to 6 words, a category (Zipf-like), a brand, a
    price (log-normal), 1 to 5 distinct tags (Zipf-like) and a stock flag. Drawn a block at a
    time, so that the generator costs a few microseconds per entity and a bulk import
    measures the service, not its client."""
    rng = np.random.default_rng(seed)
    tag_log_p = np.log(_zipf(len(TAGS)))
    block = 1_000
    for first in range(0, count, block):
        size = min(block, count - first)
        n_tags = rng.integers(1, 6, size=size)
        # Distinct tags drawn by weight, as successive draws without replacement would:
        # the largest log(p) + Gumbel noise (Efraimidis and Spirakis).
        keys = tag_log_p + rng.gumbel(size=(size, len(TAGS)))
        top = np.argpartition(-keys, 5, axis=1)[:, :5]
        tags = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, 1), 1), 1)
        n_words = rng.integers(2, 7, size=size)
        words = rng.integers(0, len(WORDS), size=(size, 6))
        categories = (rng.zipf(1.6, size=size) - 1) % len(CATEGORIES)
        brands = rng.integers(0, len(BRANDS), size=size)
        prices = np.round(rng.lognormal(3.5, 1.0, size=size), 2)
        in_stock = rng.random(size=size) < 0.9
        for k in range(size):
            yield {
                "entity_id": entity_id(first + k),
                "entity_type": entity_type,
                "attributes": {
                    "title": " ".join(WORDS[w] for w in words[k, : n_words[k]]),
                    "category": CATEGORIES[categories[k]],
                    "brand": BRANDS[brands[k]],
                    "price": float(prices[k]),
                    "tags": [TAGS[t] for t in tags[k, : n_tags[k]]],
                    "in_stock": bool(in_stock[k]),
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
