"""Recommendation quality under a held-out protocol, offline and engine-level.

    python -m benchmarks.harness                  # all ratings as implicit interactions
    python -m benchmarks.harness --min-rating 4   # ratings >= 4 only
    python -m benchmarks.harness --synthetic      # attributes decide taste (benchmarks.synthetic)
    python -m benchmarks.harness --budget 0       # tuning without a time limit

Protocol (independent of `recommendation-engine evaluate`'s):

* MovieLens-100K (RecBole's atomic files, fetched like `benchmarks.movielens`);
  each kept rating is one interaction of weight 1.
* Per user, interactions sorted by (timestamp, item id); the last
  ``ceil(0.2 * n)`` are held out (capped at ``n - 1``, so every user keeps one
  training interaction; every MovieLens user has 20 ratings or more, so the cap and
  the "at least one" never bind: 20 % of 20 is exactly 4).
* Each model is trained on the training part only; it ranks the whole catalogue minus
  the user's training items; NDCG@10 with binary relevance of the held-out items (ideal
  DCG over min(held out, 10) hits), and recall@10.
* Items have the attributes the service receives from `recommendation-engine demo`:
  ``{"title": str, "genres": [str, ...], "year": int}``, hashed by
  `engine.features.extract_features` (512 dimensions, the service's default).
* Tuning (engine.tuning) sees only the training part: it carves its own validation
  split from it with the same rule, chooses, and the chosen model is refitted on the
  whole training part before the test split is scored. Its time budget is ``--budget``
  (2) fits of the default model at default settings, timed first on the same data.

Reported: the service's algorithms as a full rebuild builds the model (`tuning.build`:
tuned, then fitted; hybrid is the default algorithm), ranked by the serving pipeline
(`evaluate`'s scorers); then the engine-level study: the default model untuned, tuned
within the budget, and its sequential part alone, with the validation figures the
tuning chose by.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recommendation_engine.engine import ensemble, tuning
from recommendation_engine.engine.evaluation import BatchScorer, UserHistories, evaluate
from recommendation_engine.engine.features import extract_features
from recommendation_engine.engine.log import InteractionLog
from recommendation_engine.service.offline_evaluation import algorithm_scorers

DATA = Path(__file__).parent / "data" / "ml-100k"
DIMENSION = 512
FRACTION = 0.2


@dataclass
class Data:
    log: InteractionLog
    attributes: list[dict[str, Any]]  # per item number
    item_ids: list[str]


def load(min_rating: float | None = None, folder: Path = DATA) -> Data:
    """MovieLens-100K, items numbered by ascending id, rows ordered by user, time, item id."""
    from recommendation_engine.demo import fetch_movielens

    fetch_movielens(folder)
    lines = (folder / "ml-100k.inter").read_text(encoding="utf-8").splitlines()[1:]
    raw = np.array([line.split("\t") for line in lines if line.strip()], dtype=float)
    if min_rating is not None:
        raw = raw[raw[:, 2] >= min_rating]
    users, items, times = raw[:, 0].astype(np.int64), raw[:, 1].astype(np.int64), raw[:, 3]
    attributes_by_id = _movies(folder)
    ids = sorted(set(items.tolist()) | {int(k) for k in attributes_by_id})
    number = {item: position for position, item in enumerate(ids)}
    user_ids = sorted(set(users.tolist()))
    user_number = {user: position for position, user in enumerate(user_ids)}
    u = np.array([user_number[x] for x in users.tolist()], np.int64)
    i = np.array([number[x] for x in items.tolist()], np.int64)
    # InteractionLog.build keeps the given order among equal (user, time): give it item order.
    order = np.lexsort((i, times, u))
    log = InteractionLog.build(
        u[order], i[order], None, times[order], n_users=len(user_ids), n_items=len(ids)
    )
    attributes = [attributes_by_id.get(str(item), {}) for item in ids]
    return Data(log, attributes, [str(item) for item in ids])


def _movies(folder: Path) -> dict[str, dict[str, Any]]:
    from recommendation_engine.demo import movies

    return {movie["entity_id"]: movie["attributes"] for movie in movies(folder)}


def vectors_of(attributes: list[dict[str, Any]], dimension: int = DIMENSION) -> NDArray[np.float32]:
    return np.stack([extract_features(a, dimension) for a in attributes]).astype(np.float32)


def holdout_split(
    log: InteractionLog, fraction: float = FRACTION
) -> tuple[InteractionLog, InteractionLog]:
    """Per user, the last ``ceil(fraction * n)`` interactions held out (at most n - 1)."""
    test = np.zeros(len(log), dtype=bool)
    starts, ends = log.user_bounds()
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        size = end - start
        if size < 2:
            continue
        held_out = min(size - 1, max(1, math.ceil(size * fraction - 1e-9)))
        test[end - held_out : end] = True
    return log.select(~test), log.select(test)


def histories_of(train: InteractionLog) -> Callable[[int], tuple[NDArray, NDArray]]:
    histories = UserHistories.of(train)
    empty_items, empty_weights = np.zeros(0, np.int64), np.zeros(0, np.float32)

    def history(user: int) -> tuple[NDArray, NDArray]:
        return histories.items.get(user, empty_items), histories.weights.get(user, empty_weights)

    return history


def short(metrics: dict[str, float]) -> str:
    return f"ndcg@10 {metrics['ndcg@10']:.4f}  recall@10 {metrics['recall@10']:.4f}"


def ensemble_scorer(train: InteractionLog, model: ensemble.EnsembleModel) -> BatchScorer:
    """The blended default model; each user's training items excluded before blending."""
    history = histories_of(train)

    def scorer(users: NDArray[np.int64]) -> NDArray[np.float64]:
        histories = [history(u) for u in users.tolist()]
        return ensemble.score_users(model, histories, exclude=[h[0] for h in histories])

    return scorer


def _seconds(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def tuned_results(
    train: InteractionLog,
    test: InteractionLog,
    vectors: NDArray[np.float32] | None,
    budget: float | None = 2.0,
) -> dict[str, Any]:
    """Tune on the training part only, fit the chosen model on it, score the test part."""
    # One fit: the default model at its default settings (every source fitted, weights
    # 0.8 / 0.1 / 0.1), as a build without tuning would train it. The tuning gets twice
    # that.
    # (Each fit timed twice, the faster kept: the machine is shared.)
    untuned = ensemble.EnsembleConfig(
        weights=ensemble.BlendWeights(sequential=0.8, long_term=0.1, content=0.1)
    )
    default_fit = min(_seconds(lambda: tuning.fit(train, vectors, untuned)) for _ in range(2))
    limit = None if budget is None else tuning.budget_for(default_fit, budget)
    tuned = tuning.tune(train, vectors, budget_seconds=limit)
    model = tuning.fit(train, vectors, tuned.config)
    chosen_fit = min(_seconds(lambda: tuning.fit(train, vectors, tuned.config)) for _ in range(2))
    weights = tuned.config.weights
    sources = {
        "sequential (tuned)": ensemble.BlendWeights(),
        "default (tuned blend)": weights,
    }
    results = {
        "default model, untuned": evaluate(
            ensemble_scorer(train, tuning.fit(train, vectors, untuned)), train, test
        )
    }
    for name, blend_weights in sources.items():
        single = ensemble.EnsembleModel(
            model.sequential,
            model.long_term,
            model.content,
            ensemble.EnsembleConfig(
                tuned.config.sequential,
                tuned.config.long_term,
                tuned.config.content,
                blend_weights,
            ),
        )
        results[name] = evaluate(ensemble_scorer(train, single), train, test)
    return {
        "tuning": tuned,
        "default_fit_seconds": default_fit,
        "chosen_fit_seconds": chosen_fit,
        "test": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--min-rating", type=float, default=None)
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="a synthetic catalogue where attributes determine taste (benchmarks.synthetic)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=2.0,
        help="tuning time in fits of the default model (0: no limit, the full search, "
        "whose choices do not depend on the machine's speed)",
    )
    args = parser.parse_args()
    if args.synthetic:
        from benchmarks.synthetic import taste_data

        log, attributes = taste_data()
        name = "synthetic attribute-driven taste"
    else:
        data = load(args.min_rating)
        log, attributes = data.log, data.attributes
        name = "MovieLens-100K" + (
            "" if args.min_rating is None else f" ratings >= {args.min_rating:g}"
        )
    train, test = holdout_split(log)
    print(
        f"{name}: {log.n_users} users, {log.n_items} items, {len(log)} interactions; "
        f"train {len(train)}, test {len(test)}"
    )
    vectors = vectors_of(attributes)
    started = time.perf_counter()
    built = tuning.build(train, vectors, ensemble.EnsembleConfig())
    seconds = time.perf_counter() - started
    print(f"\nthe service's build (tuned and fitted in {seconds:.2f} s), test split")
    for name, scorer in algorithm_scorers(built.model, train).items():
        print(f"  {name:<28} {short(evaluate(scorer, train, test))}", flush=True)
    report = tuned_results(train, test, vectors, args.budget or None)
    tuned = report["tuning"]
    print("\ntuned on a validation split of the training part")
    print(f"  chosen: {tuned.summary()['sequential']}")
    print(f"          {tuned.summary()['weights']}")
    for name, metrics in tuned.validation.items():
        print(f"  validation {name:<17} {short(metrics)}")
    print(
        f"  tuning {tuned.seconds:.2f} s = {tuned.seconds / report['default_fit_seconds']:.1f} "
        f"x one fit of the default model at default settings "
        f"({report['default_fit_seconds']:.2f} s; budget {args.budget:g} x), "
        f"{tuned.seconds / report['chosen_fit_seconds']:.1f} x the chosen model's fit "
        f"({report['chosen_fit_seconds']:.2f} s); {len(tuned.trials)} trials, "
        f"{tuned.users} validation users"
    )
    print("test split")
    for name, metrics in report["test"].items():
        print(f"  {name:<28} {short(metrics)}")


if __name__ == "__main__":
    main()
