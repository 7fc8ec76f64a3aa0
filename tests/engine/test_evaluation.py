"""The temporal split and the ranking metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recommendation_engine.engine.evaluation import evaluate, one_at_a_time, temporal_split
from recommendation_engine.engine.log import InteractionLog


def test_split_holds_out_each_users_latest_fifth() -> None:
    users = np.array([0] * 10 + [1] * 3 + [2])
    items = np.arange(14)
    times = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 5, 6, 7, 1], float)  # user 0 reversed
    train, test = temporal_split(InteractionLog.build(users, items, times=times))
    by_user = {u: sorted(test.items[test.users == u].tolist()) for u in (0, 1, 2)}
    assert by_user[0] == [0, 1]  # the two latest of ten (times 9 and 8)
    assert by_user[1] == [12]  # at least one
    assert by_user[2] == []  # a single interaction stays in training
    assert len(train) + len(test) == 14
    assert set(train.items.tolist()).isdisjoint(test.items.tolist())


def test_metrics_match_a_hand_computed_example() -> None:
    # one user; trained on item 0; test items 1 and 5; the scorer ranks 1, 2, 3, ... 9
    train = InteractionLog.build(np.array([0]), np.array([0]), n_users=1, n_items=30)
    test = InteractionLog.build(np.array([0, 0]), np.array([1, 5]), n_users=1, n_items=30)
    ranking = -np.arange(30, dtype=float)
    result = evaluate(one_at_a_time(lambda user: ranking), train, test)
    # top 10 (item 0 excluded as seen): 1..10, hits at ranks 1 and 5
    dcg = 1 / math.log2(2) + 1 / math.log2(6)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert result["ndcg@10"] == pytest.approx(dcg / idcg, abs=1e-4)
    assert result["recall@10"] == 1.0
    assert result["hr@10"] == 1.0
    assert result["precision@10"] == pytest.approx(0.2)
    assert result["map@10"] == pytest.approx((1 / 1 + 2 / 5) / 2, abs=1e-4)
    assert result["coverage@10"] == pytest.approx(10 / 30, abs=1e-4)


def test_seen_items_are_never_counted() -> None:
    train = InteractionLog.build(np.array([0]), np.array([1]), n_users=1, n_items=5)
    test = InteractionLog.build(np.array([0]), np.array([1]), n_users=1, n_items=5)
    result = evaluate(one_at_a_time(lambda user: np.array([0.0, 9.0, 0.0, 0.0, 0.0])), train, test)
    assert result["hr@10"] == 0.0
