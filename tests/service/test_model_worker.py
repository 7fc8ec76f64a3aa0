"""What the worker process keeps between model updates (`service.model_worker`): an update
from the kept log equals a full fit of the grown log, with or without the kept counts,
and a version that is not the kept one is refused."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.service import model_worker
from tests.engine.test_sequential_knn import random_log

CONFIG = replace(knn.SequentialKNNConfig(), window=5, neighbours=10)


@pytest.mark.parametrize("keep_entries", [10**9, 0])
def test_an_update_of_the_kept_log_equals_a_full_fit(keep_entries: int) -> None:
    old = random_log(6, 3000, 200, 300)
    more = random_log(7, 40, 220, 320)  # new users and new items too
    model_worker.restore("acme", 3, old, CONFIG, keep_entries)
    assert model_worker.holds("acme", 3)
    assert not model_worker.holds("acme", 4) and not model_worker.holds("other", 3)

    updated = model_worker.update("acme", 3, 4, more, CONFIG, keep_entries)
    grown, _ = old.extended(more.users, more.items, more.weights, more.times, 220, 320)
    assert (updated.users, updated.items, updated.interactions) == (220, 320, len(grown))
    assert set(more.items.tolist()) <= set(updated.touched.tolist())
    full = knn.fit(grown, CONFIG)
    for item in updated.touched.tolist():
        np.testing.assert_array_equal(
            updated.model.neighbours_of(item)[0], full.neighbours_of(item)[0]
        )
        np.testing.assert_allclose(
            updated.model.neighbours_of(item)[1], full.neighbours_of(item)[1]
        )
    # The grown log is kept as the new version's: the next update starts from it.
    assert model_worker.holds("acme", 4) and not model_worker.holds("acme", 3)


def test_an_update_of_another_version_is_refused_and_keeps_what_is_kept() -> None:
    log = random_log(6, 500, 50, 80)
    model_worker.restore("acme", 3, log, CONFIG, 10**9)
    with pytest.raises(LookupError):
        model_worker.update("acme", 2, 5, random_log(7, 10, 50, 80), CONFIG, 10**9)
    with pytest.raises(LookupError):
        model_worker.update("other", 3, 5, random_log(7, 10, 50, 80), CONFIG, 10**9)
    assert model_worker.holds("acme", 3)
