"""Small synthetic logs with known structure."""

from __future__ import annotations

import numpy as np

from recommendation_engine.engine.log import InteractionLog


def chain_log(
    n_users: int = 200, n_items: int = 60, length: int = 12, seed: int = 3
) -> InteractionLog:
    """Users walk along item chains: after item i they tend to take i+1 (or i+2).

    The next item is predictable from the last one, and all items are about equally
    popular, so a sequence-aware model beats popularity by a wide margin.
    """
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for user in range(n_users):
        item = int(rng.integers(0, n_items))
        for step in range(length):
            users.append(user)
            items.append(item)
            times.append(step + user * 1000.0)
            item = (item + int(rng.choice([1, 2], p=[0.8, 0.2]))) % n_items
    return InteractionLog.build(
        np.array(users), np.array(items), times=np.array(times), n_users=n_users, n_items=n_items
    )


def attribute_taste(
    n_users: int = 120, n_items: int = 2000, genres: int = 80, seed: int = 5
) -> tuple[InteractionLog, np.ndarray]:
    """Users each like one genre and take random items of it, in random order: taste is
    all in the attributes, and the catalogue is large for its users, so co-occurrence is
    thin (returns the log and the items' feature vectors)."""
    from recommendation_engine.engine.features import extract_features

    rng = np.random.default_rng(seed)
    genre = rng.integers(0, genres, n_items)
    vectors = np.stack(
        [
            extract_features({"genre": f"g{genre[i]}", "noise": f"n{rng.integers(0, 200)}"}, 64)
            for i in range(n_items)
        ]
    )
    users, items = [], []
    for user in range(n_users):
        pool = np.flatnonzero(genre == rng.integers(0, genres))
        for item in rng.choice(pool, min(8, pool.size), replace=False).tolist():
            users.append(user)
            items.append(item)
    log = InteractionLog.build(np.array(users), np.array(items), n_users=n_users, n_items=n_items)
    return log, vectors
