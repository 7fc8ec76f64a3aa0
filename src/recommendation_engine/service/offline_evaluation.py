"""`recommendation-engine evaluate`: the engine's own algorithms on an interaction log.

Reads MovieLens `u.data`, RecBole `.inter` (with its `.item` file when present), CSV
with a header, or the service's NDJSON export; splits it temporally
(`engine.evaluation`); builds the model on the training set as a full rebuild builds
it (tuned on a validation split carved from the training set) and reports each
algorithm, ranked by the serving pipeline, and a most-popular baseline on the test set.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from recommendation_engine.engine import ensemble, ranking, tuning
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
    # The model's settings (tuned on a validation split of the training set, unless
    # tuning was off), with the tuning's summary.
    chosen: dict[str, Any]
    validation: list[dict[str, Any]]  # the tuning's trials
    results: dict[str, dict[str, float]]


# Each user's list is read to this length, ranked as a request ranks it.
RANKED = 20


def algorithm_scorers(
    model: ensemble.EnsembleModel,
    train: InteractionLog,
    weights: tuple[float, float] | None = None,
) -> dict[str, BatchScorer]:
    """Each algorithm's scores for a batch of users (one row per user): the ranking
    pipeline's lists (`engine.ranking.score_history`) from the model's item lists, as the
    service ranks them, given as descending scores (every other item -inf). ``weights``
    (collaborative, content) replace the tuned blend of the hybrid, as pinned weights
    do in the service."""
    histories = UserHistories.of(train)
    lists = ranking.ModelLists(model)
    empty_items = np.zeros(0, np.int64)
    empty_weights = np.zeros(0, np.float32)

    def pipeline(blend: ranking.Blend) -> BatchScorer:
        chosen = ranking.source_weights(blend, model.config.weights)

        def scorer(users: NDArray[np.int64]) -> NDArray[np.float64]:
            result = np.full((len(users), train.n_items), -np.inf)
            for row, user in enumerate(users.tolist()):
                items = histories.items.get(user, empty_items)
                weights = histories.weights.get(user, empty_weights)
                scored = ranking.score_history(
                    items, weights, lists.of(items), model.config, chosen, seen=items
                )
                top = scored.top(RANKED)
                result[row, scored.items[top]] = RANKED - np.arange(top.size)
            return result

        return scorer

    popularity = train.item_weights().astype(np.float64)
    hybrid = ranking.Blend("hybrid", *weights) if weights else ranking.Blend("hybrid")
    scorers: dict[str, BatchScorer] = {
        "most_popular": lambda users: np.tile(popularity, (len(users), 1)),
        "collaborative": pipeline(ranking.Blend("collaborative")),
    }
    if model.content is not None:
        scorers["content_based"] = pipeline(ranking.Blend("content_based"))
    scorers["hybrid"] = pipeline(hybrid)
    return scorers


# Told (steps done, steps in all, the step just done) as `run` goes.
Progress = Callable[[int, int, str], None]


def run(
    dataset: Dataset,
    *,
    base: ensemble.EnsembleConfig | None = None,
    tuned: bool = True,
    fixed: Collection[str] = (),
    weights: tuple[float, float] | None = None,
    progress: Progress | None = None,
) -> Report:
    """Split the log temporally, build the model on the training part as a full rebuild
    builds it (`tuning.build`: tuned on a validation split of the training part unless
    ``tuned`` is False), and evaluate every algorithm on the test part."""
    train, test = temporal_split(dataset.log)
    steps = 2 + (4 if dataset.vectors is not None else 3)
    completed = 0

    def done(what: str) -> None:
        nonlocal completed
        completed += 1
        if progress is not None:
            progress(completed, steps, what)

    done("split the log")
    built = tuning.build(
        train, dataset.vectors, base or ensemble.EnsembleConfig(), tuned=tuned, fixed=fixed
    )
    done("tuned and fitted the model" if tuned else "fitted the model")
    results: dict[str, dict[str, float]] = {}
    for name, scorer in algorithm_scorers(built.model, train, weights).items():
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
        chosen=built.config_dict(),
        validation=built.tuning.trials if built.tuning else [],
        results=results,
    )


def render(report: Report) -> str:
    lines = [
        f"dataset: {report.dataset['source']} ({report.dataset['users']} users, "
        f"{report.dataset['items']} items, {report.dataset['interactions']} interactions; "
        f"train {report.dataset['train']}, test {report.dataset['test']})",
        "sequential settings: "
        + ", ".join(f"{k}={v:g}" for k, v in report.chosen["sequential"].items()),
        "blend: " + ", ".join(f"{k}={v:g}" for k, v in report.chosen["weights"].items()),
        "",
    ]
    names = ["ndcg@10", "recall@10", "recall@20", "hr@10", "precision@10", "map@10", "coverage@10"]
    lines.append(f"{'algorithm':<15}" + "".join(f"{n:>13}" for n in names))
    for algorithm, metrics in report.results.items():
        lines.append(f"{algorithm:<15}" + "".join(f"{metrics[n]:>13.4f}" for n in names))
    return "\n".join(lines)
