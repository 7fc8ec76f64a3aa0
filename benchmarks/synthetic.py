"""A synthetic catalogue where attributes fully determine taste.

    python -m benchmarks.harness --synthetic

Items have a ``genre`` (one of ``genres``), a ``studio`` (one of ``studios``), and two
attributes that carry no signal: a ``year`` and a ``title`` of random words. Each user
likes one or two attribute values (a genre, a studio, or one of each) and interacts only
with items that have one of them, picked at random and in random order: there is no
sequence to learn, and what a user takes next is predictable from attributes alone.
Popularity is mildly skewed (Zipf-like weights within each liked set), as in real data.
The catalogue is large for the number of users (8,000 items, about 20,000
interactions), so most items have few interactions: co-occurrence is thin, while every
item's attributes are known.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recommendation_engine.engine.log import InteractionLog

_WORDS = [f"w{i}" for i in range(400)]


def taste_data(
    n_users: int = 1000,
    n_items: int = 8000,
    genres: int = 80,
    studios: int = 120,
    length: tuple[int, int] = (10, 30),
    seed: int = 7,
) -> tuple[InteractionLog, list[dict[str, Any]]]:
    """The log (items numbered 0..n_items-1, users 0..n_users-1) and item attributes."""
    rng = np.random.default_rng(seed)
    genre = rng.integers(0, genres, n_items)
    studio = rng.integers(0, studios, n_items)
    attributes = [
        {
            "genre": f"g{genre[i]}",
            "studio": f"s{studio[i]}",
            "year": int(rng.integers(1950, 2024)),
            "title": " ".join(rng.choice(_WORDS, 3)),
        }
        for i in range(n_items)
    ]
    appeal = 1.0 / (1.0 + rng.permutation(n_items)) ** 0.5  # skew, independent of taste
    users, items, times = [], [], []
    clock = 0.0
    for user in range(n_users):
        kind = rng.integers(0, 3)
        liked = np.zeros(n_items, bool)
        if kind in (0, 2):
            liked |= genre == rng.integers(0, genres)
        if kind in (1, 2):
            liked |= studio == rng.integers(0, studios)
        pool = np.flatnonzero(liked)
        if pool.size < 3:
            continue
        count = min(int(rng.integers(*length)), pool.size - 1)
        chosen = rng.choice(pool, count, replace=False, p=appeal[pool] / appeal[pool].sum())
        for item in chosen.tolist():
            clock += 1.0
            users.append(user)
            items.append(item)
            times.append(clock)
    log = InteractionLog.build(
        np.array(users), np.array(items), None, np.array(times), n_users=n_users, n_items=n_items
    )
    return log, attributes
