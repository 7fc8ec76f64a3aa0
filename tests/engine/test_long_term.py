"""Long-term item-to-item weights (a closed-form regression, EASE)."""

from __future__ import annotations

import numpy as np

from recommendation_engine.engine import long_term
from recommendation_engine.engine.log import InteractionLog
from tests.engine.fixtures import chain_log


def test_the_weights_are_the_closed_form_regression() -> None:
    log = chain_log(n_users=60, n_items=12, length=6)
    config = long_term.LongTermConfig(regularisation=5.0, neighbours=11)
    model = long_term.fit(log, config)
    x = np.zeros((log.n_users, log.n_items))
    x[log.users, log.items] = 1.0
    precision = np.linalg.inv(x.T @ x + 5.0 * np.eye(log.n_items))
    expected = -precision / np.diag(precision)[None, :]
    np.fill_diagonal(expected, 0.0)
    dense = model.matrix.toarray()
    kept = dense != 0
    np.testing.assert_allclose(dense[kept], expected[kept], rtol=1e-3, atol=1e-5)
    assert kept.sum() == (expected > 0).sum()  # every positive weight, none negative
    assert not np.diag(dense).any()


def test_only_the_most_popular_items_take_part_and_lists_are_bounded() -> None:
    log = chain_log(n_users=80, n_items=30, length=8)
    counts = np.bincount(log.items, minlength=30)
    model = long_term.fit(log, long_term.LongTermConfig(max_items=10, neighbours=3))
    covered = set(np.argsort(-counts, kind="stable")[:10].tolist())
    rows = set(np.flatnonzero(np.diff(model.matrix.indptr)).tolist())
    assert rows <= covered
    assert set(model.matrix.indices.tolist()) <= covered
    assert np.diff(model.matrix.indptr).max() <= 3


def test_scores_sum_the_rows_of_distinct_recent_items() -> None:
    log = chain_log(n_users=60, n_items=12, length=6)
    model = long_term.fit(log, long_term.LongTermConfig(regularisation=5.0, history=3))
    dense = model.matrix.toarray()
    history = np.array([1, 2, 2, 5, 7])  # the last three: 2, 5, 7
    np.testing.assert_allclose(
        long_term.score_items(model, history), dense[[2, 5, 7]].sum(0), rtol=1e-6
    )
    ignored = long_term.score_items(model, history, np.array([1, 1, 1, 1, 0.0]))
    np.testing.assert_allclose(ignored, dense[[2, 5]].sum(0), rtol=1e-6)  # weight 0: not
    assert not long_term.score_items(model, np.array([], int)).any()


def test_a_log_with_one_item_has_no_weights() -> None:
    log = InteractionLog.build(np.array([0, 1]), np.array([0, 0]), n_items=3)
    assert long_term.fit(log).matrix.nnz == 0
