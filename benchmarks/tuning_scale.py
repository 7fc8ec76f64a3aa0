"""The default model's fit and its tuning on a log of a million interactions.

    python -m benchmarks.tuning_scale [--interactions 1000000] [--items 3700]

A MovieLens-1M-sized synthetic log (6,000 users, 3,700 items, Zipf-like popularity,
users who move between neighbouring items, so there is sequence to learn) with hashed
attribute vectors. Times, on this machine: the service's current fit (sequential
defaults), one fit of the default model at default settings (sequential, long-term and
content lists), the tuning with a budget of twice that, and the fit of what it chose.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from recommendation_engine.engine import ensemble, tuning
from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine.features import extract_features
from recommendation_engine.engine.log import InteractionLog


def scale_log(
    interactions: int, users: int, items: int, seed: int = 3
) -> tuple[InteractionLog, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.geometric(users / interactions, users)
    lengths = np.maximum(5, (lengths * interactions / lengths.sum()).astype(np.int64))
    user_of = np.repeat(np.arange(users), lengths)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.9
    popularity /= popularity.sum()
    start = rng.choice(items, users, p=popularity)
    # Each next item: a step near the previous one (half the time) or a popular one.
    steps = rng.integers(-20, 21, user_of.size)
    jumps = rng.choice(items, user_of.size, p=popularity)
    near = rng.random(user_of.size) < 0.5
    item_of = np.empty(user_of.size, np.int64)
    offsets = np.r_[0, np.cumsum(lengths)]
    for user in range(users):
        a, b = offsets[user], offsets[user + 1]
        path = np.where(near[a:b], steps[a:b], 0)
        walk = (start[user] + np.cumsum(path)) % items
        item_of[a:b] = np.where(near[a:b], walk, jumps[a:b])
    log = InteractionLog.build(
        user_of, item_of, None, np.arange(user_of.size, dtype=np.float64), users, items
    )
    genres = rng.integers(0, 18, items)
    vectors = np.stack(
        [
            extract_features({"genre": f"g{genres[i]}", "year": int(1950 + i % 50)}, 512)
            for i in range(items)
        ]
    )
    return log, vectors


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=6000)
    parser.add_argument("--items", type=int, default=3700)
    args = parser.parse_args()
    log, vectors = scale_log(args.interactions, args.users, args.items)
    print(f"{len(log)} interactions, {log.n_users} users, {log.n_items} items")

    def timed(what: str, call: Callable[[], Any]) -> tuple[Any, float]:
        started = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - started
        print(f"  {what:<58} {seconds:7.2f} s", flush=True)
        return result, seconds

    timed("service's current fit (sequential defaults)", lambda: knn.fit(log))
    untuned = ensemble.EnsembleConfig(
        weights=ensemble.BlendWeights(sequential=0.8, long_term=0.1, content=0.1)
    )
    _, one_fit = timed(
        "one fit of the default model at default settings",
        lambda: tuning.fit(log, vectors, untuned),
    )
    tuned, seconds = timed(
        "tuning (budget: twice that)",
        lambda: tuning.tune(log, vectors, budget_seconds=tuning.budget_for(one_fit)),
    )
    print(f"    = {seconds / one_fit:.1f} x one fit; {tuned.summary()}")
    timed("fit of the chosen model", lambda: tuning.fit(log, vectors, tuned.config))


if __name__ == "__main__":
    main()
