"""Content neighbours: centred attribute vectors, popularity-weighted candidates."""

from __future__ import annotations

import numpy as np

from recommendation_engine.engine import content_neighbours as cn
from recommendation_engine.engine.features import extract_features


def vectors_of(*attributes: dict) -> np.ndarray:
    return np.stack([extract_features(a, 64) for a in attributes])


def test_a_feature_every_item_shares_does_not_make_items_alike() -> None:
    # Every item has year 1995 (one bucket for all); genres set them apart.
    items = [{"year": 1995, "genre": g} for g in ("a", "a", "b", "b", "c")]
    raw = cn.item_vectors(vectors_of(*items), centred=False)
    centred = cn.item_vectors(vectors_of(*items))
    assert raw[0] @ raw[2] > 0.3  # different genres look alike through the year
    assert centred[0] @ centred[2] < 0 < centred[0] @ centred[1]
    np.testing.assert_allclose(np.linalg.norm(centred, axis=1), 1.0, rtol=1e-5)


def test_neighbours_are_similar_items_and_popular_ones_first() -> None:
    items = [{"genre": "a"}, {"genre": "a"}, {"genre": "a"}, {"genre": "b"}, {"genre": "b"}]
    popularity = np.array([0.0, 1.0, 9.0, 50.0, 0.0])
    model = cn.fit(vectors_of(*items), popularity, cn.ContentNeighboursConfig(neighbours=2))
    neighbours = model.matrix[0].toarray().ravel()
    assert neighbours[0] == 0  # not its own neighbour
    assert neighbours[2] == 1.0 and 0 < neighbours[1] < 1  # more popular first; best is 1
    assert neighbours[3] == neighbours[4] == 0  # another genre: not similar
    flat = cn.fit(vectors_of(*items), popularity, cn.ContentNeighboursConfig(popularity=0.0))
    row = flat.matrix[0].toarray().ravel()
    assert row[1] == row[2] > 0


def test_items_without_attributes_have_no_neighbours_and_are_none() -> None:
    vectors = vectors_of({"genre": "a"}, {"genre": "a"}, {})
    model = cn.fit(vectors, np.ones(3))
    assert model.matrix[2].nnz == 0 and model.matrix[:, 2].nnz == 0


def test_candidates_are_limited_to_the_most_popular() -> None:
    vectors = vectors_of(*({"genre": "a", "n": i % 2} for i in range(6)))
    popularity = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    model = cn.fit(vectors, popularity, cn.ContentNeighboursConfig(max_candidates=3))
    assert set(model.matrix.indices.tolist()) <= {0, 1, 2}
    assert model.matrix[5].nnz > 0  # every item still has its own list


def test_scores_sum_neighbour_rows_by_recency() -> None:
    vectors = vectors_of(*({"genre": g} for g in "aabbcc"))
    model = cn.fit(vectors, np.ones(6))
    dense = model.matrix.toarray()
    scores = cn.score_users(model, [(np.array([0, 2]), np.ones(2))], half_life=1.0, history=50)
    np.testing.assert_allclose(scores[0], 0.5 * dense[0] + dense[2], rtol=1e-6)
    assert not cn.score_users(model, [(np.array([], int), np.array([]))], 1.0, 50).any()
