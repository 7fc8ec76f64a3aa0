"""`recommendation-engine evaluate`: reading each log format and reporting every algorithm."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from recommendation_engine.engine import ensemble
from recommendation_engine.engine.evaluation import UserHistories, temporal_split
from recommendation_engine.service.offline_evaluation import (
    algorithm_scorers,
    read_dataset,
    render,
    run,
)
from tests.engine.fixtures import chain_log
from tests.support import cli_env, run_cli

GENRES = ["Drama", "Comedy", "Action", "Horror"]


def replace_weights(
    model: ensemble.EnsembleModel, weights: ensemble.BlendWeights
) -> ensemble.EnsembleModel:
    config = dataclasses.replace(model.config, weights=weights)
    return dataclasses.replace(model, config=config)


@pytest.fixture(scope="module")
def rows() -> list[tuple[int, int, int, int]]:
    log = chain_log(n_users=80, n_items=40, length=10)
    # (user, item, rating, timestamp); ratings alternate 5 / 3
    return [
        (int(u), int(i), 5 if k % 2 else 3, int(t))
        for k, (u, i, t) in enumerate(zip(log.users, log.items, log.times, strict=True))
    ]


def write_formats(folder: Path, rows: list[tuple[int, int, int, int]]) -> dict[str, Path]:
    udata = folder / "u.data"
    udata.write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    inter = folder / "small.inter"
    inter.write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        + "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows)
    )
    (folder / "small.item").write_text(
        "item_id:token\tmovie_title:token_seq\tclass:token_seq\n"
        + "".join(f"{i}\tMovie {i}\t{GENRES[i % 4]}\n" for i in range(40))
    )
    csv = folder / "log.csv"
    csv.write_text(
        "user_id,item_id,rating,timestamp\n" + "".join(f"{u},{i},{r},{t}\n" for u, i, r, t in rows)
    )
    ndjson = folder / "export.ndjson"
    lines: list[dict] = [
        {"entity_id": str(i), "entity_type": "movie", "attributes": {"genre": GENRES[i % 4]}}
        for i in range(40)
    ]
    lines += [
        {
            "user_id": str(u),
            "entity_id": str(i),
            "entity_type": "movie",
            "interaction_type": "rating",
            "weight": 1.0,
            "value": r,
            "timestamp": datetime.fromtimestamp(t, UTC).isoformat(),
        }
        for u, i, r, t in rows
    ]
    ndjson.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return {"u.data": udata, "inter": inter, "csv": csv, "ndjson": ndjson}


def test_every_format_reads_the_same_log(tmp_path: Path, rows: list) -> None:
    paths = write_formats(tmp_path, rows)
    for name, path in paths.items():
        dataset = read_dataset(path)
        assert len(dataset.log) == len(rows), name
        assert dataset.log.n_users == 80 and dataset.log.n_items == 40, name
    assert read_dataset(paths["inter"]).vectors is not None  # the sibling .item file
    assert read_dataset(paths["ndjson"]).vectors is not None  # the entity lines
    assert read_dataset(paths["u.data"]).vectors is None
    high = read_dataset(paths["inter"], min_rating=4)
    assert len(high.log) == sum(1 for row in rows if row[2] >= 4)


def test_report_has_every_algorithm_and_collaborative_wins(tmp_path: Path, rows: list) -> None:
    report = run(read_dataset(write_formats(tmp_path, rows)["inter"]))
    assert set(report.results) == {"most_popular", "collaborative", "content_based", "hybrid"}
    assert (
        report.results["collaborative"]["ndcg@10"] > 2 * report.results["most_popular"]["ndcg@10"]
    )
    assert len(report.validation) >= 4  # the tuning's trials
    tuning = report.chosen["tuning"]
    assert tuning["validation"]["chosen"]["ndcg@10"] >= max(
        tuning["validation"][source]["ndcg@10"] for source in ("sequential", "long_term", "content")
    )
    text = render(report)
    for name in ("most_popular", "collaborative", "content_based", "hybrid", "ndcg@10", "map@10"):
        assert name in text


def test_every_algorithm_scores_a_batch_as_it_scores_each_user(tmp_path: Path, rows: list) -> None:
    dataset = read_dataset(write_formats(tmp_path, rows)["inter"])
    train, _ = temporal_split(dataset.log)
    config = ensemble.EnsembleConfig(weights=ensemble.BlendWeights(0.6, 0.2, 0.2))
    model = ensemble.fit(train, dataset.vectors, config)
    scorers = algorithm_scorers(model, train)
    assert set(scorers) == {"most_popular", "collaborative", "content_based", "hybrid"}
    users = np.array([3, 0, 41, 79, 3, 17])
    for name, scorer in scorers.items():
        batch = scorer(users)
        assert batch.shape == (len(users), train.n_items), name
        for row in range(len(users)):
            np.testing.assert_allclose(
                batch[row], scorer(users[row : row + 1])[0], rtol=1e-5, atol=1e-9, err_msg=name
            )
    # Each single-source list is that source's own best 20 unseen items, in order.
    histories = UserHistories.of(train)
    assert dataset.vectors is not None
    for user in users.tolist():
        items, weights = histories.items[user], histories.weights[user]
        for name, only in (
            ("collaborative", ensemble.BlendWeights(0.75, 0.25, 0.0)),
            ("content_based", ensemble.BlendWeights(0.0, 0.0, 1.0)),
        ):
            scores = ensemble.score_items(replace_weights(model, only), items, weights, items)
            scores[items] = -np.inf
            best = [i for i in np.argsort(-scores, kind="stable")[:20] if scores[i] > 0]
            row = scorers[name](np.array([user]))[0]
            listed = np.argsort(-row, kind="stable")[: np.isfinite(row).sum()]
            assert listed.tolist() == best, name


def test_every_algorithm_beats_a_minimum_quality(tmp_path: Path, rows: list) -> None:
    report = run(read_dataset(write_formats(tmp_path, rows)["inter"]))
    floors = {"most_popular": 0.0, "collaborative": 0.4, "hybrid": 0.4, "content_based": 0.0}
    for name, floor in floors.items():
        assert report.results[name]["ndcg@10"] >= floor, (name, report.results[name])
    # Content alone is measured against chance: genres repeat every four items.
    assert report.results["content_based"]["hr@10"] > 0


def test_cli_evaluate(tmp_path: Path, rows: list) -> None:
    paths = write_formats(tmp_path, rows)
    result = run_cli("evaluate", str(paths["u.data"]), "--json", env=cli_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["results"]) == {"most_popular", "collaborative", "hybrid"}
    assert report["dataset"]["interactions"] == len(rows)
