"""The experiments behind the default model, under the held-out protocol of
`benchmarks.harness`, each scored on the validation split (carved from the training
part) and on the test split.

    python -m benchmarks.quality_experiments [--min-rating 4]

Each line varies one thing against a fixed sequential model (window 60, decay 30,
alpha 0.5, 200 neighbours, half-life 5, backward 0.5, what the tuning tends to choose
on MovieLens-100K), so the numbers compare within a block, not with the tuned default.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from benchmarks import harness
from recommendation_engine.engine import content, content_neighbours, ensemble, long_term, tuning
from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine.log import InteractionLog

BASE = knn.SequentialKNNConfig(window=60, decay=30.0, half_life=5.0, backward=0.5)

Experiment = Callable[[InteractionLog, tuning.Validation], NDArray[np.float64]]


def sequential(
    config: knn.SequentialKNNConfig,
    log_of: Callable[[InteractionLog], InteractionLog] | None = None,
) -> Experiment:
    def run(train: InteractionLog, v: tuning.Validation) -> NDArray[np.float64]:
        model = knn.fit(train if log_of is None else log_of(train), config)
        return knn.score_users(replace(model, popularity=model.popularity), v.histories)

    return run


def user_damped(tau: float) -> Callable[[InteractionLog], InteractionLog]:
    """Each user's pairs weighted 1 / (history length) ** tau (through the weights)."""

    def damp(log: InteractionLog) -> InteractionLog:
        length = np.bincount(log.users, minlength=log.n_users).astype(np.float32)
        weights = log.weights / np.maximum(length[log.users], 1.0) ** (2 * tau)
        return replace(log, weights=weights.astype(np.float32))

    return damp


def times_popularity(exponent: float) -> Experiment:
    def run(train: InteractionLog, v: tuning.Validation) -> NDArray[np.float64]:
        scores = sequential(BASE)(train, v)
        return scores * np.maximum(train.item_weights(), 1e-9) ** exponent

    return run


def row_normalised(power: float) -> Experiment:
    def run(train: InteractionLog, v: tuning.Validation) -> NDArray[np.float64]:
        model = knn.fit(train, BASE)
        sums = np.asarray(model.matrix.sum(axis=1)).ravel()
        scale = sp.diags(1.0 / np.maximum(sums, 1e-12) ** power)
        return knn.score_users(
            replace(model, matrix=sp.csr_matrix(scale @ model.matrix)), v.histories
        )

    return run


def profile_shape(weigh: Callable[[NDArray[np.float64]], NDArray[np.float64]]) -> Experiment:
    """The sequential lists summed with other recency weights (``weigh(steps back)``)."""

    def run(train: InteractionLog, v: tuning.Validation) -> NDArray[np.float64]:
        model = knn.fit(train, BASE)
        rows, cols, vals = [], [], []
        for row, (items, _) in enumerate(v.histories):
            items = items[-BASE.history :]
            rows.append(np.full(len(items), row))
            cols.append(items)
            vals.append(weigh(np.arange(len(items))[::-1].astype(np.float64)))
        profiles = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(len(v.histories), train.n_items),
        )
        return (profiles @ model.matrix).toarray()

    return run


def blended(parts: dict[str, Experiment], weights: dict[str, float]) -> Experiment:
    def run(train: InteractionLog, v: tuning.Validation) -> NDArray[np.float64]:
        total = None
        for name, weight in weights.items():
            part = ensemble.normalise_rows(v.mask(parts[name](train, v)))
            total = part * weight if total is None else total + part * weight
        return total

    return run


def long_term_ease(train: InteractionLog, v: tuning.Validation) -> NDArray[np.float64]:
    return long_term.score_users(long_term.fit(train), v.histories)


def long_term_item_knn(train: InteractionLog, v: tuning.Validation) -> NDArray[np.float64]:
    """Whole-history item-kNN (cosine co-occurrence, 200 per item) instead of EASE."""
    x = sp.csr_matrix(
        (np.ones(len(train)), (train.users, train.items)), (train.n_users, train.n_items)
    )
    x.data[:] = 1.0
    gram = (x.T @ x).toarray()
    norms = np.sqrt(np.maximum(np.diag(gram), 1e-9))
    similarity = gram / np.outer(norms, norms)
    np.fill_diagonal(similarity, 0.0)
    top = np.argpartition(-similarity, 200, axis=1)[:, :200]
    rows = np.repeat(np.arange(train.n_items), 200)
    lists = sp.csr_matrix(
        (np.take_along_axis(similarity, top, 1).ravel(), (rows, top.ravel())), similarity.shape
    )
    model = long_term.LongTermModel(lists, long_term.LongTermConfig())
    return long_term.score_users(model, v.histories)


def user_knn(train: InteractionLog, v: tuning.Validation) -> NDArray[np.float64]:
    """User-based kNN: the 50 most similar users (cosine of whole histories), their items."""
    x = sp.csr_matrix(
        (np.ones(len(train)), (train.users, train.items)), (train.n_users, train.n_items)
    )
    x.data[:] = 1.0
    norms = np.sqrt(np.maximum(np.asarray(x.sum(axis=1)).ravel(), 1e-9))
    mine = x[v.users]
    similarity = (mine @ x.T).toarray() / np.outer(norms[v.users], norms)
    similarity[np.arange(len(v.users)), v.users] = 0.0
    cut = -np.partition(-similarity, 50, axis=1)[:, 50:51]
    similarity[similarity < cut] = 0.0
    return np.asarray(sp.csr_matrix(similarity) @ x.toarray())


def sequential_ease(train: InteractionLog, v: tuning.Validation) -> NDArray[np.float64]:
    """EASE on the windowed, directional co-occurrence (the base's pairs) instead of
    whole histories, summed with the base's recency weights."""
    summed = knn._cooccurrence(train, BASE, None).toarray()
    np.fill_diagonal(summed, train.item_weights() + 1000.0)
    precision = np.linalg.inv(summed)
    weights = -precision / np.diag(precision)[None, :]
    np.fill_diagonal(weights, 0.0)
    model = knn.ItemNeighbours(sp.csr_matrix(weights), train.item_weights(), BASE)
    return knn.score_users(model, v.histories)


def content_profile(vectors: NDArray[np.float32], centred: bool, prior: float) -> Experiment:
    """`engine.content`'s profile cosine (centred vectors or not), x (1 + count) ** prior."""

    def run(train: InteractionLog, v: tuning.Validation) -> NDArray[np.float64]:
        unit = content_neighbours.item_vectors(vectors, centred)
        scores = content.score_users(unit, v.histories, BASE)
        if prior:
            scores = np.maximum(scores, 0.0) * (1.0 + train.item_weights()) ** prior
        return scores

    return run


def content_lists(vectors: NDArray[np.float32], prior: float = 0.5) -> Experiment:
    def run(train: InteractionLog, v: tuning.Validation) -> NDArray[np.float64]:
        config = content_neighbours.ContentNeighboursConfig(popularity=prior)
        model = content_neighbours.fit(vectors, train.item_weights(), config)
        return content_neighbours.score_users(model, v.histories, BASE.half_life, BASE.history)

    return run


def old_hybrid(vectors: NDArray[np.float32]) -> Experiment:
    """Today's blend: 0.6 x collaborative + 0.4 x (raw content cosine) ** 40."""

    def run(train: InteractionLog, v: tuning.Validation) -> NDArray[np.float64]:
        first = v.mask(sequential(BASE)(train, v))
        second = v.mask(content.score_users(vectors, v.histories, BASE))
        sharpened = ensemble.normalise_rows(second)
        sharpened = np.where(np.isfinite(sharpened), sharpened**40, sharpened)
        return ensemble.normalise_rows(first) * 0.6 + 0.4 * sharpened

    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--min-rating", type=float, default=None)
    args = parser.parse_args()
    data = harness.load(args.min_rating)
    vectors = harness.vectors_of(data.attributes)
    as_tokens = [{**a, "year": str(a.get("year", ""))} for a in data.attributes]
    token_vectors = harness.vectors_of(as_tokens)
    train, test = harness.holdout_split(data.log)
    fit_part, held = tuning.temporal_holdout(train)
    splits = {
        "validation": (fit_part, tuning.Validation(fit_part, held, 10**6)),
        "test": (train, tuning.Validation(train, test, 10**6)),
    }
    seq = sequential(BASE)
    experiments: dict[str, Experiment] = {
        "sequential, backward 1 (symmetric lists)": sequential(replace(BASE, backward=1.0)),
        "sequential, backward 0.5 (the base)": seq,
        "sequential, backward 0.25": sequential(replace(BASE, backward=0.25)),
        "base x popularity ** 0.1": times_popularity(0.1),
        "base x popularity ** 0.3": times_popularity(0.3),
        "base, pairs damped by user length ** 0.25": sequential(BASE, user_damped(0.25)),
        "base, pairs damped by user length ** 0.5": sequential(BASE, user_damped(0.5)),
        "base, neighbour rows / row sum ** 0.5": row_normalised(0.5),
        "base + 0.1 x window-3 model (two windows)": blended(
            {"long": seq, "short": sequential(replace(BASE, window=3))},
            {"long": 0.9, "short": 0.1},
        ),
        "base, power-law recency 1 / (1 + steps / 5)": profile_shape(lambda b: 1 / (1 + b / 5)),
        "base, two half-lives (5, + 0.05 x 30)": profile_shape(
            lambda b: 0.5 ** (b / 5) + 0.05 * 0.5 ** (b / 30)
        ),
        "long-term EASE alone": long_term_ease,
        "long-term item-kNN alone": long_term_item_knn,
        "base + 0.15 long-term EASE": blended(
            {"s": seq, "l": long_term_ease}, {"s": 0.85, "l": 0.15}
        ),
        "base + 0.3 long-term EASE": blended({"s": seq, "l": long_term_ease}, {"s": 0.7, "l": 0.3}),
        "base + 0.15 long-term item-kNN": blended(
            {"s": seq, "l": long_term_item_knn}, {"s": 0.85, "l": 0.15}
        ),
        "user-kNN alone (50 neighbours)": user_knn,
        "base + 0.2 user-kNN": blended({"s": seq, "u": user_knn}, {"s": 0.8, "u": 0.2}),
        "sequential EASE (windowed pairs, lambda 1000) alone": sequential_ease,
        "base + 0.3 sequential EASE": blended(
            {"s": seq, "e": sequential_ease}, {"s": 0.7, "e": 0.3}
        ),
        "content: profile cosine (today's)": content_profile(vectors, False, 0.0),
        "content: profile cosine, centred": content_profile(vectors, True, 0.0),
        "content: centred x (1 + count) ** 0.5": content_profile(vectors, True, 0.5),
        "content: centred x (1 + count) ** 1": content_profile(vectors, True, 1.0),
        "content: neighbour lists (the default)": content_lists(vectors),
        "content: neighbour lists, year as a token": content_lists(token_vectors),
        "content: profile centred x count ** 0.5, year token": content_profile(
            token_vectors, True, 0.5
        ),
        "today's hybrid (0.6 / 0.4, content ** 40)": old_hybrid(vectors),
        "base + 0.05 content lists": blended(
            {"s": seq, "c": content_lists(vectors)}, {"s": 0.95, "c": 0.05}
        ),
        "base + 0.1 content lists": blended(
            {"s": seq, "c": content_lists(vectors)}, {"s": 0.9, "c": 0.1}
        ),
        "base + 0.15 EASE + 0.05 content lists": blended(
            {"s": seq, "l": long_term_ease, "c": content_lists(vectors)},
            {"s": 0.8, "l": 0.15, "c": 0.05},
        ),
    }
    print(f"{'experiment':<56}{'validation':>12}{'test':>10}   (NDCG@10)")
    for name, experiment in experiments.items():
        scores = []
        for split_train, validation in splits.values():
            result = validation.mask(np.asarray(experiment(split_train, validation), np.float64))
            scores.append(validation.metrics(result)["ndcg@10"])
        print(f"{name:<56}{scores[0]:>12.4f}{scores[1]:>10.4f}", flush=True)


if __name__ == "__main__":
    main()
