"""`recommendation-engine evaluate`: the engine's own algorithms on an interaction log.

Reads MovieLens `u.data`, RecBole `.inter` (with its `.item` file when present), CSV
with a header, or the service's NDJSON export; splits it temporally
(`engine.evaluation`); tunes the collaborative model on a validation split carved from
the training set; retrains on the whole training set and reports each algorithm and a
most-popular baseline on the test set.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from recommendation_engine.engine import content, hybrid, ranking
from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine.evaluation import (
    BatchScorer,
    UserHistories,
    evaluate,
    temporal_split,
)
from recommendation_engine.engine.features import extract_features
from recommendation_engine.engine.log import InteractionLog
from recommendation_engine.engine.vocabulary import Vocabulary
from recommendation_engine.models import BUILT_IN_INTERACTION_TYPES, effective_weight

# The validation grid: how far back a user's history matters, and how close in time two
# interactions must be to make their items neighbours.
GRID = {"half_life": (2.0, 5.0, 10.0, 20.0), "window": (15, 30, 60)}


@dataclass
class Dataset:
    log: InteractionLog
    items: Vocabulary[str]
    vectors: NDArray[np.float32] | None = None  # item feature vectors, when attributes are known
    source: str = ""


@dataclass
class _Rows:
    users: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, user: str, item: str, weight: float, when: float) -> None:
        self.users.append(user)
        self.items.append(item)
        self.weights.append(weight)
        self.times.append(when)


def read_dataset(
    path: Path,
    items_path: Path | None = None,
    min_rating: float | None = None,
    dimension: int = 512,
) -> Dataset:
    rows = _Rows()
    text = path.read_text(encoding="utf-8", errors="replace")
    first = text.split("\n", 1)[0]
    if first.lstrip().startswith("{"):
        _read_ndjson(text, rows, min_rating)
    elif ":token" in first:
        _read_recbole(text, rows, min_rating)
        sibling = path.with_suffix(".item")
        if items_path is None and sibling.exists():
            items_path = sibling
    elif "\t" in first and first.split("\t")[0].strip().isdigit():
        _read_delimited(text, rows, min_rating, "\t", header=False)
    else:
        _read_delimited(text, rows, min_rating, ",", header=True)
    if items_path is not None:
        rows.attributes.update(read_item_attributes(items_path))
    users = Vocabulary[str]()
    items = Vocabulary[str]()
    log = InteractionLog.build(
        users.indices(rows.users),
        items.indices(rows.items),
        np.asarray(rows.weights, np.float32),
        np.asarray(rows.times, np.float64),
        n_users=len(users),
        n_items=len(items),
    )
    vectors = None
    if rows.attributes:
        vectors = np.zeros((len(items), dimension), np.float32)
        for key in items.keys:
            if key in rows.attributes:
                vectors[items.index(key)] = extract_features(rows.attributes[key], dimension)
    return Dataset(log, items, vectors, source=str(path))


def _keep(rating: float | None, min_rating: float | None) -> bool:
    return min_rating is None or (rating is not None and rating >= min_rating)


def _read_recbole(text: str, rows: _Rows, min_rating: float | None) -> None:
    lines = text.splitlines()
    names = [name.split(":")[0] for name in lines[0].split("\t")]
    user, item = names.index("user_id"), names.index("item_id")
    rating = names.index("rating") if "rating" in names else None
    stamp = names.index("timestamp") if "timestamp" in names else None
    for number, line in enumerate(lines[1:]):
        parts = line.split("\t")
        if len(parts) < len(names):
            continue
        value = float(parts[rating]) if rating is not None else None
        if _keep(value, min_rating):
            when = float(parts[stamp]) if stamp is not None else float(number)
            rows.add(parts[user], parts[item], 1.0, when)


def _read_delimited(
    text: str, rows: _Rows, min_rating: float | None, delimiter: str, header: bool
) -> None:
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    if header:
        names = [name.strip().lower() for name in next(reader)]
        user = names.index("user_id")
        item = next(names.index(n) for n in ("entity_id", "item_id", "movie_id") if n in names)
        rating = next((names.index(n) for n in ("rating", "value") if n in names), None)
        stamp = next((names.index(n) for n in ("timestamp", "time") if n in names), None)
    else:  # MovieLens u.data: user, item, rating, timestamp
        user, item, rating, stamp = 0, 1, 2, 3
    for number, parts in enumerate(reader):
        if len(parts) <= max(user, item):
            continue
        value = float(parts[rating]) if rating is not None and parts[rating] else None
        if _keep(value, min_rating):
            when = _time(parts[stamp]) if stamp is not None and parts[stamp] else float(number)
            rows.add(parts[user].strip(), parts[item].strip(), 1.0, when)


def _time(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        from datetime import datetime

        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _read_ndjson(text: str, rows: _Rows, min_rating: float | None) -> None:
    for number, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        record = orjson.loads(line)
        if "user_id" not in record:  # an entity line: its attributes feed content-based
            rows.attributes[record["entity_id"]] = record.get("attributes") or {}
            continue
        value = record.get("value")
        if not _keep(value, min_rating):
            continue
        weight = effective_weight(
            record.get("weight"),
            value,
            BUILT_IN_INTERACTION_TYPES.get(record.get("interaction_type", "")),
        )
        if weight is None:  # out of range: counts for nothing, as in training
            continue
        when = _time(record["timestamp"]) if record.get("timestamp") else float(number)
        rows.add(record["user_id"], record["entity_id"], weight, when)


def read_item_attributes(path: Path) -> dict[str, dict[str, Any]]:
    """Item attributes from a RecBole `.item` file or an NDJSON entity export."""
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    if lines and lines[0].lstrip().startswith("{"):
        records = (orjson.loads(line) for line in lines if line.strip())
        return {r["entity_id"]: r.get("attributes") or {} for r in records if "user_id" not in r}
    names = [name.split(":") for name in lines[0].split("\t")]
    result: dict[str, dict[str, Any]] = {}
    for line in lines[1:]:
        parts = line.split("\t")
        attributes: dict[str, Any] = {}
        for (name, *kind), value in zip(names[1:], parts[1:], strict=False):
            is_sequence = kind and kind[0] == "token_seq" and name != "movie_title"
            attributes[name] = value.split() if is_sequence else value
        result[parts[0]] = attributes
    return result


@dataclass
class Report:
    dataset: dict[str, Any]
    chosen: dict[str, float]
    validation: list[dict[str, Any]]
    results: dict[str, dict[str, float]]


# The list length `evaluate` asks for, as a request would: each source offers its best
# `hybrid.per_source(REQUEST_COUNT)` items, and the ranking of their union is read to 20.
REQUEST_COUNT = 10
RANKED = 20


def algorithm_scorers(
    model: knn.ItemNeighbours,
    train: InteractionLog,
    vectors: NDArray[np.float32] | None,
    weights: tuple[float, float],
) -> dict[str, BatchScorer]:
    """Each algorithm's scores for a batch of users (one row per user): the ranking
    pipeline's lists (`engine.ranking`), as the service ranks them, given as descending
    scores (every other item -inf)."""
    histories = UserHistories.of(train)
    empty_items = np.zeros(0, np.int64)
    empty_weights = np.zeros(0, np.float32)

    def history(user: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        return histories.items.get(user, empty_items), histories.weights.get(user, empty_weights)

    def collaborative(users: NDArray[np.int64]) -> NDArray[np.float64]:
        return knn.score_users(model, [history(user) for user in users.tolist()])

    def content_based(users: NDArray[np.int64]) -> NDArray[np.float64]:
        assert vectors is not None
        return content.score_users(
            vectors, [history(user) for user in users.tolist()], model.config
        )

    def pipeline(blend: ranking.Blend) -> BatchScorer:
        def scorer(users: NDArray[np.int64]) -> NDArray[np.float64]:
            first = collaborative(users) if blend.uses_collaborative else None
            second = content_based(users) if blend.uses_content else None
            result = np.full((len(users), train.n_items), -np.inf)
            for row, user in enumerate(users.tolist()):
                result[row] = ranked_scores(
                    first[row] if first is not None else None,
                    second[row] if second is not None else None,
                    history(user)[0],
                    blend,
                    train.n_items,
                )
            return result

        return scorer

    popularity = train.item_weights().astype(np.float64)
    scorers: dict[str, BatchScorer] = {
        "most_popular": lambda users: np.tile(popularity, (len(users), 1)),
        "collaborative": pipeline(ranking.Blend("collaborative")),
    }
    if vectors is not None:
        scorers["content_based"] = pipeline(ranking.Blend("content_based"))
        scorers["hybrid"] = pipeline(ranking.Blend("hybrid", *weights))
    return scorers


def ranked_scores(
    collaborative: NDArray[np.float64] | None,
    content_scores: NDArray[np.float64] | None,
    seen: NDArray[np.int64],
    blend: ranking.Blend,
    n_items: int,
) -> NDArray[np.float64]:
    """One user's list from the ranking pipeline, as scores over the catalogue: the
    first item `RANKED`, the next one less, every item not in the list -inf. Each
    source offers its best unseen items, as a request for `REQUEST_COUNT` takes them."""
    zero = np.zeros(n_items)
    sources = []
    for scores in (collaborative, content_scores):
        if scores is None:
            sources.append(zero)
            continue
        scores = np.array(scores, np.float64)
        scores[seen] = -np.inf
        sources.append(scores)
    candidates = np.union1d(
        *(ranking.shortlist(s, hybrid.per_source(REQUEST_COUNT)) for s in sources)
    )
    result = np.full(n_items, -np.inf)
    ranked = ranking.rank(
        sources[0][candidates], sources[1][candidates], blend, RANKED, candidates.tolist()
    )
    for position, item in enumerate(ranked):
        result[candidates[item.index]] = RANKED - position
    return result


# Told (steps done, steps in all, the step just done) as `run` goes.
Progress = Callable[[int, int, str], None]


def run(
    dataset: Dataset, weights: tuple[float, float] = (0.6, 0.4), progress: Progress | None = None
) -> Report:
    train, test = temporal_split(dataset.log)
    fit_part, validation = temporal_split(train)
    trials = []
    best: tuple[float, knn.SequentialKNNConfig] | None = None
    grid = list(itertools.product(GRID["half_life"], GRID["window"]))
    steps = len(grid) + 1 + (4 if dataset.vectors is not None else 2)  # trials, fit, scorers
    completed = 0

    def done(what: str) -> None:
        nonlocal completed
        completed += 1
        if progress is not None:
            progress(completed, steps, what)

    results: dict[str, dict[str, float]] = {}
    for half_life, window in grid:
        config = replace(knn.SequentialKNNConfig(), half_life=half_life, window=window)
        model = knn.fit(fit_part, config)
        score = evaluate(
            algorithm_scorers(model, fit_part, None, weights)["collaborative"], fit_part, validation
        )
        trials.append({"half_life": half_life, "window": window, "ndcg@10": score["ndcg@10"]})
        if best is None or score["ndcg@10"] > best[0]:
            best = (score["ndcg@10"], config)
        done(f"validated half-life {half_life}, window {window}")
    assert best is not None
    model = knn.fit(train, best[1])
    done("fitted the chosen model")
    for name, scorer in algorithm_scorers(model, train, dataset.vectors, weights).items():
        results[name] = evaluate(scorer, train, test)
        done(f"evaluated {name}")
    return Report(
        dataset={
            "source": dataset.source,
            "users": dataset.log.n_users,
            "items": dataset.log.n_items,
            "interactions": len(dataset.log),
            "train": len(train),
            "test": len(test),
            "item_attributes": dataset.vectors is not None,
        },
        chosen=knn.config_dict(best[1]),
        validation=trials,
        results=results,
    )


def render(report: Report) -> str:
    lines = [
        f"dataset: {report.dataset['source']} ({report.dataset['users']} users, "
        f"{report.dataset['items']} items, {report.dataset['interactions']} interactions; "
        f"train {report.dataset['train']}, test {report.dataset['test']})",
        "collaborative model chosen on the validation split: "
        + ", ".join(f"{k}={v:g}" for k, v in report.chosen.items()),
        "",
    ]
    names = ["ndcg@10", "recall@10", "recall@20", "hr@10", "precision@10", "map@10", "coverage@10"]
    lines.append(f"{'algorithm':<15}" + "".join(f"{n:>13}" for n in names))
    for algorithm, metrics in report.results.items():
        lines.append(f"{algorithm:<15}" + "".join(f"{metrics[n]:>13.4f}" for n in names))
    return "\n".join(lines)
