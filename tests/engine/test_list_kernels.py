import numpy as np

from recommendation_engine.engine import list_kernels
from recommendation_engine.engine.sequential_knn import SequentialKNNConfig, profile_weights

ALL_SOURCES = np.array([0.5, 0.3, 0.2])


def weights_of(items: list[int], weights: list[float], blocks: list[int], factors=ALL_SOURCES):
    slot = list_kernels.slots(100)
    out = list_kernels.block_weights(
        slot,
        np.array(items, np.int64),
        np.array(weights),
        np.array(blocks, np.int64),
        factors,
        3,  # recent entries that count
        2.0,  # half-life
        4,  # long-term entries that count
    )
    assert (slot == -1).all()  # the scratch index is left as found
    return out


def test_recent_entries_weigh_by_interaction_weight_and_recency() -> None:
    items, weights = [7, 8, 9, 10, 11], [1.0, 2.0, 3.0, 1.0, 2.0]
    out = weights_of(items, weights, [0, 1, 2, 3, 4])
    recent = profile_weights(np.array(weights[-3:]), SequentialKNNConfig(half_life=2.0))
    np.testing.assert_allclose(out[0], [0.0, 0.0, *recent], rtol=1e-12)
    np.testing.assert_allclose(out[2], out[0])  # content weighs entries as sequential does


def test_the_long_term_source_counts_the_latest_entry_of_each_item_once() -> None:
    # Entries 1..4 are the latest four; item 5 recurs at 1 and 3, item 6 at 2 and 4.
    out = weights_of([6, 5, 6, 5, 6], [1.0] * 5, [0, 1, 2, 3, 4])
    assert out[1].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


def test_only_the_asked_blocks_and_sources_get_weights() -> None:
    out = weights_of([1, 2, 3], [1.0, 1.0, 1.0], [2, 0], np.array([0.0, 1.0, 0.0]))
    assert out.shape == (3, 2)
    assert out[0].tolist() == [0.0, 0.0] and out[2].tolist() == [0.0, 0.0]
    assert out[1].tolist() == [1.0, 1.0]
