"""The default model: sequential, long-term and content neighbour lists, blended.

Three sources, each a sparse item-by-item matrix served the same way (a user's score is
the sum of the rows of their history items, weighted per source):

* ``sequential`` (`sequential_knn`): what users take next, weighted by recency;
* ``long_term`` (`long_term`): what a whole history predicts, order ignored;
* ``content`` (`content_neighbours`): items with similar attributes, by recency.

Each source's scores are scaled into [0, 1] by the user's best unseen item, the content
part is raised to ``content_sharpness``, and the parts are added with ``weights``
(normalised to sum 1). The weights come from `tuning.tune`, per tenant. The long-term
source is fitted only when its weight is positive; the content source whenever there are
item vectors (a request may ask for content alone). Weights 1/0/0 are exactly the
sequential model's ranking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from recommendation_engine.engine import content_neighbours, long_term
from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine.log import InteractionLog

SOURCES = ("sequential", "long_term", "content")

_T = TypeVar("_T")

History = tuple[NDArray[np.integer], NDArray[np.floating]]


@dataclass(frozen=True)
class BlendWeights:
    sequential: float = 1.0
    long_term: float = 0.0
    content: float = 0.0
    content_sharpness: float = 1.0

    def of(self, source: str) -> float:
        return float(getattr(self, source))


def default_sequential() -> knn.SequentialKNNConfig:
    """The sequential settings the default model starts from (and tuning from): wider
    windows and forward-leaning lists than `SequentialKNNConfig`'s, which win on
    MovieLens-100K both with all ratings and with ratings >= 4 (benchmarks/RESULTS.md)."""
    return knn.SequentialKNNConfig(window=60, decay=30.0, backward=0.5)


@dataclass(frozen=True)
class EnsembleConfig:
    sequential: knn.SequentialKNNConfig = field(default_factory=default_sequential)
    long_term: long_term.LongTermConfig = field(default_factory=long_term.LongTermConfig)
    content: content_neighbours.ContentNeighboursConfig = field(
        default_factory=content_neighbours.ContentNeighboursConfig
    )
    weights: BlendWeights = field(default_factory=BlendWeights)


@dataclass
class EnsembleModel:
    sequential: knn.ItemNeighbours
    long_term: long_term.LongTermModel | None
    content: content_neighbours.ContentNeighbours | None
    config: EnsembleConfig


def history_length(config: EnsembleConfig) -> int:
    """How many of a user's latest interactions a request needs (the longest any
    fitted source reads)."""
    lengths = [config.sequential.history]
    if config.weights.long_term > 0:
        lengths.append(config.long_term.history)
    return max(lengths)


def fit(
    log: InteractionLog,
    vectors: NDArray[np.floating] | None,
    config: EnsembleConfig,
    sequential: knn.ItemNeighbours | None = None,
) -> EnsembleModel:
    """Every source a request may use (see the module's docstring); ``sequential``, when
    given, is the sequential source already fitted with ``config.sequential``."""
    if sequential is None:
        sequential = knn.fit(log, config.sequential)
    taste = long_term.fit(log, config.long_term) if config.weights.long_term > 0 else None
    content = None
    if vectors is not None and np.any(vectors):
        content = content_neighbours.fit(vectors, log.item_weights(), config.content)
    return EnsembleModel(sequential, taste, content, config)


def source_scores(
    model: EnsembleModel, histories: Sequence[History]
) -> dict[str, NDArray[np.float64]]:
    """Each fitted source's raw scores for a batch of histories (one row per history)."""
    parts = {"sequential": knn.score_users(model.sequential, histories)}
    if model.long_term is not None:
        parts["long_term"] = long_term.score_users(model.long_term, histories)
    if model.content is not None:
        sequential = model.config.sequential
        parts["content"] = content_neighbours.score_users(
            model.content, histories, sequential.half_life, sequential.history
        )
    return parts


def normalise_rows(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each row scaled by its best finite score into [0, 1] (rows with no positive score
    become 0; -inf, for items that cannot be recommended, stays -inf)."""
    finite = np.where(np.isfinite(scores), scores, 0.0)
    best = finite.max(axis=1, keepdims=True) if scores.size else np.zeros((len(scores), 1))
    scaled = np.divide(finite, best, out=np.zeros_like(finite), where=best > 0)
    np.maximum(scaled, 0.0, out=scaled)
    scaled[np.isneginf(scores)] = -np.inf
    return scaled


def blend(parts: dict[str, NDArray[np.float64]], weights: BlendWeights) -> NDArray[np.float64]:
    """The weighted sum of the row-normalised parts (see the module's docstring)."""
    used = {name: weights.of(name) for name in parts if weights.of(name) > 0}
    total = sum(used.values())
    if total <= 0:
        raise ValueError("at least one fitted source needs a positive weight")
    blended: NDArray[np.float64] | None = None
    for name, weight in used.items():
        part = normalise_rows(parts[name])
        if name == "content" and weights.content_sharpness != 1.0:
            part = np.where(np.isfinite(part), part**weights.content_sharpness, part)
        part = part * (weight / total)
        blended = part if blended is None else blended + part
    assert blended is not None
    return blended


def score_users(
    model: EnsembleModel,
    histories: Sequence[History],
    exclude: Sequence[NDArray[np.integer]] | None = None,
) -> NDArray[np.float64]:
    """Blended scores for a batch of histories; items in ``exclude`` (per row, e.g. what
    the user already has) score -inf and do not count in the normalisation."""
    parts = source_scores(model, histories)
    if exclude is not None:
        for scores in parts.values():
            for row, items in enumerate(exclude):
                scores[row, np.asarray(items, np.int64)] = -np.inf
    return blend(parts, model.config.weights)


def score_items(
    model: EnsembleModel,
    items: NDArray[np.integer],
    weights: NDArray[np.floating],
    exclude: NDArray[np.integer] | None = None,
) -> NDArray[np.float64]:
    """`score_users` for one chronological history (oldest first)."""
    return score_users(model, [(items, weights)], None if exclude is None else [exclude])[0]


def config_dict(config: EnsembleConfig) -> dict[str, Any]:
    """The configuration as saved with a model version (`config_from_dict` reads it)."""
    return asdict(config)


def config_from_dict(values: dict[str, Any]) -> EnsembleConfig:
    """The configuration saved with a model version. A version saved with the sequential
    settings alone (before the other sources) is that model with weights 1/0/0."""
    if "sequential" not in values:
        return EnsembleConfig(sequential=knn.config_from_dict(values), weights=BlendWeights())
    return EnsembleConfig(
        sequential=knn.config_from_dict(values["sequential"]),
        long_term=_known(long_term.LongTermConfig, values.get("long_term", {})),
        content=_known(content_neighbours.ContentNeighboursConfig, values.get("content", {})),
        weights=_known(BlendWeights, values.get("weights", {})),
    )


def _known(kind: type[_T], values: dict[str, Any]) -> _T:
    """``kind`` from the ``values`` it has fields for (others are left out)."""
    names = {f.name for f in fields(kind)}  # type: ignore[arg-type]
    return kind(**{name: value for name, value in values.items() if name in names})
