"""Per-tenant tuning of the default model at build time, on the tenant's own data.

`tune(log, vectors)` carves a temporal validation split out of the log it is given (per
user, the last ``ceil(20 %)`` of their interactions; see `temporal_holdout`), fits on
the rest, and chooses by NDCG@10 on the held-out part:

1. the sequential model's ``backward``, ``window``/``decay``, ``half_life`` (a ladder
   that goes on while it improves), ``alpha`` and ``neighbours``, one group at a time
   from the service's defaults (coordinate descent: a change is kept only when it beats
   the best so far, so the result is never worse on validation than the defaults);
2. the blend's weights (`ensemble`): how much the long-term lists (`long_term`) and
   the content neighbours (`content_neighbours`) add to the sequential scores, content
   sharpening, and content-led mixes. Each source alone is a candidate too, so the
   chosen blend never scores below the best single source on the validation split.

It has to cost about two fits (``budget_seconds``; a build passes twice what its last
fit took), so nothing is fitted twice that need not be:

* every pair of interactions up to the largest window tried is collected once, sorted
  by (item, neighbour) with its distance and direction (`PairCache`); a trial's
  co-occurrence for any window, decay and backward weight is then one weighted sum
  over those sorted entries, not a fit;
* only the neighbour lists of items in the validation users' recent histories are
  ranked; changing ``half_life`` or the blend re-scores without refitting; the
  long-term and content models are fitted once;
* at most ``max_users`` validation users are scored, each through the items its sources
  reach (sparse rows, whatever the catalogue's size), and a log whose pairs would not
  fit in ``max_pair_entries`` is tuned on a sample of its users;
* when the budget runs out the sequential search stops with the best so far; the blend
  (a few dozen cheap trials) is always chosen.

`fit(log, vectors, tuning.config)` (`ensemble.fit`) then trains the chosen model on the
whole log. Nothing here looks at data outside the log it is given: a caller that
evaluates on a test split passes only the training part.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse import _sparsetools

from recommendation_engine.engine import content_neighbours, ensemble, list_kernels, long_term
from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine.log import InteractionLog

FRACTION = 0.2
# Candidate values, tried in this order (see `tune`).
BACKWARD = (0.5, 0.25)
WINDOW_DECAY = ((60, 30.0), (30, 30.0), (15, 10.0))
HALF_LIFE = (1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0)
ALPHA = (0.4, 0.6)
LONG_TERM_WEIGHT = (0.15, 0.3)
CONTENT_WEIGHT = (0.05, 0.1, 0.3, 0.6)
# Sharpening is tried for content weights up to this (a small part that should only
# move close matches).
CONTENT_SHARPEN_UP_TO = 0.1
CONTENT_SHARPNESS = (1.0, 3.0)
# Candidates per source a blend is scored over (see `shortlist`).
SHORTLIST = 50


def temporal_holdout(
    log: InteractionLog, fraction: float = FRACTION
) -> tuple[InteractionLog, InteractionLog]:
    """Per user, the last ``ceil(fraction * n)`` of their ``n`` interactions held out,
    at most ``n - 1`` (so each keeps one to learn from; a user with one keeps it)."""
    held = np.zeros(len(log), dtype=bool)
    starts, ends = log.user_bounds()
    sizes = ends - starts
    count = np.minimum(sizes - 1, np.ceil(sizes * fraction - 1e-9).astype(np.int64))
    for end, size in zip(ends[count > 0].tolist(), count[count > 0].tolist(), strict=True):
        held[end - size : end] = True
    return log.select(~held), log.select(held)


class Validation:
    """Held-out items of (up to ``max_users``) users, and a fast NDCG@10 / recall@10 of
    their score rows (their training items excluded). `tune` scores sparse rows (`top`,
    `sparse_metrics`, `shortlist`): only the items a source reaches are stored, so a
    catalogue of millions of items costs no more per user than one of thousands. Dense
    rows (users x items; `mask`, `metrics`) serve experiments on small catalogues."""

    def __init__(
        self, train: InteractionLog, held_out: InteractionLog, max_users: int, seed: int = 0
    ) -> None:
        users = np.intersect1d(np.unique(held_out.users), np.unique(train.users))
        if users.size > max_users:
            users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
        self.users = users
        self.n_items = train.n_items
        starts, ends = train.user_bounds()
        bounds = zip(train.users[starts].tolist(), starts.tolist(), ends.tolist(), strict=True)
        first = {user: (start, end) for user, start, end in bounds}
        self.histories: list[tuple[NDArray[np.int64], NDArray[np.float32]]] = []
        for user in users.tolist():
            start, end = first[user]
            self.histories.append((train.items[start:end], train.weights[start:end]))
        row = np.full(train.n_users, -1, np.int64)
        row[users] = np.arange(users.size)
        wanted = row[held_out.users] >= 0
        held_rows, held_items = row[held_out.users[wanted]], held_out.items[wanted]
        self.relevant = np.unique(held_rows * self.n_items + held_items)  # row-major keys
        relevant_rows = self.relevant // max(self.n_items, 1)
        self.relevant_count = np.bincount(relevant_rows, minlength=users.size)
        in_train = row[train.users] >= 0
        self.seen_rows = row[train.users[in_train]]
        self.seen_items = train.items[in_train]
        order = np.argsort(self.seen_rows, kind="stable")
        counts = np.bincount(self.seen_rows, minlength=users.size)
        self._seen_indptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
        self._seen_sorted = self.seen_items[order].astype(np.int64)
        self.seconds = 0.0

    def recent_items(self, history: int) -> NDArray[np.int64]:
        """Items among the users' last ``history`` interactions (the rows scoring reads)."""
        return np.unique(np.concatenate([items[-history:] for items, _ in self.histories]))

    def mask(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        """Dense ``scores`` with each user's training items at -inf (in place)."""
        scores[self.seen_rows, self.seen_items] = -np.inf
        return scores

    def top(
        self, scores: sp.csr_matrix, size: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Each user's best ``size`` items of sparse score rows (one per user, in
        ``users`` order), best first, equal scores by item number (as a request ranks):
        only positive scores of items outside the user's training items. Returns their
        item numbers (-1 pads) and scores (-inf pads)."""
        scores = sp.csr_matrix(scores)
        return list_kernels.rows_top(
            scores.indptr.astype(np.int64),
            scores.indices,
            scores.data,
            max(1, min(size, self.n_items)),
            self._seen_indptr,
            self._seen_sorted,
            self.n_items,
        )

    def metrics(
        self,
        scores: NDArray[np.float64],
        columns: NDArray[np.int64] | None = None,
        k: int = 10,
    ) -> dict[str, float]:
        """NDCG@k and recall@k of masked score rows (one per user, in ``users`` order);
        an item scored 0 or less is never a hit. With ``columns``, score ``[u, j]`` is
        that of item ``columns[u, j]`` (a shortlist, or `top`'s; -1 pads a row), and
        equal scores rank by their position in the row."""
        started = time.perf_counter()
        width = scores.shape[1]
        if columns is not None:
            top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        else:
            if width > k:
                top = np.argpartition(-scores, k, axis=1)[:, :k]
            else:  # a catalogue of k items or fewer: every item is in the top k
                top = np.broadcast_to(np.arange(width), scores.shape).copy()
            order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
            top = np.take_along_axis(top, order, 1)
        # Only positively scored items count: the rest are ties at 0 that no source
        # supports, whose order would be arbitrary (a shortlist would break them by
        # other sources' choices).
        finite = np.take_along_axis(scores, top, 1) > 0
        if columns is not None:
            top = np.take_along_axis(columns, top, 1)
            finite &= top >= 0
        keys = np.arange(len(top))[:, None] * self.n_items + np.maximum(top, 0)
        hits = _contains(self.relevant, keys) & finite
        discount = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))
        ideal = np.cumsum(discount)[np.minimum(self.relevant_count, top.shape[1]) - 1]
        ndcg = (hits * discount).sum(1) / ideal
        recall = hits.sum(1) / self.relevant_count
        self.seconds = time.perf_counter() - started  # what a metric costs, for budgeting
        return {"ndcg@10": float(ndcg.mean()), "recall@10": float(recall.mean())}

    def sparse_metrics(self, scores: sp.csr_matrix, k: int = 10) -> dict[str, float]:
        """`metrics` of sparse score rows (see `top`)."""
        columns, best = self.top(scores, k)
        return self.metrics(best, columns, k)

    def shortlist(
        self, parts: dict[str, sp.csr_matrix], size: int
    ) -> tuple[NDArray[np.int64], dict[str, NDArray[np.float64]]]:
        """Each user's candidates for a blend: the union of every part's best ``size``
        items (`top`; a request blends such a shortlist too), ascending. Returns their
        item numbers (-1 pads) and each part's scores of them, normalised as
        `ensemble.normalise_rows` does (divided by the user's best, 0 where the part
        scores an item 0 or less or not at all, -inf where padded)."""
        n = self.n_items
        chosen, best = [], {}
        for name, scores in parts.items():
            columns, values = self.top(scores, size)
            rows, position = np.nonzero(columns >= 0)
            chosen.append(rows * n + columns[rows, position])
            best[name] = np.maximum(values[:, 0], 0.0)  # -inf: a row with nothing
        union = np.unique(np.concatenate(chosen))
        rows, items = union // max(n, 1), union % max(n, 1)
        counts = np.bincount(rows, minlength=self.users.size)
        position = np.arange(rows.size) - np.repeat(np.r_[0, np.cumsum(counts)[:-1]], counts)
        columns = np.full((self.users.size, max(1, int(counts.max(initial=0)))), -1, np.int64)
        columns[rows, position] = items
        gathered = {}
        for name, scores in parts.items():
            scores = sp.csr_matrix(scores)
            keys = _rows(scores) * n + scores.indices
            order = np.argsort(keys)
            keys, data = keys[order], scores.data[order]
            at = np.minimum(np.searchsorted(keys, union), max(keys.size - 1, 0))
            raw = np.where(_contains(keys, union), data[at] if keys.size else 0.0, 0.0)
            row_best = best[name][rows]
            values = np.full(columns.shape, -np.inf)
            values[rows, position] = np.divide(
                np.maximum(raw, 0.0), row_best, out=np.zeros(raw.size), where=row_best > 0
            )
            gathered[name] = values
        return columns, gathered


def _rows(matrix: sp.csr_matrix) -> NDArray[np.int64]:
    """Each stored entry's row."""
    return np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))


def _contains(sorted_keys: NDArray[np.int64], keys: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Whether each of ``keys`` is in ``sorted_keys`` (ascending, unique)."""
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[at] == keys


class PairCache:
    """Every pair of one user's interactions up to ``max_window`` apart, as entries
    (row item, other item, distance, direction, weight) sorted by (row, other), so that
    `summed` is `sequential_knn`'s co-occurrence for any window <= ``max_window``,
    decay and backward weight, at the cost of one weighted sum over the entries."""

    def __init__(self, log: InteractionLog, max_window: int) -> None:
        n = log.n_items
        rows, cols, distances, forward, weights = [], [], [], [], []
        for distance in range(1, max_window + 1):
            same_user = log.users[distance:] == log.users[:-distance]
            if not same_user.any():
                break
            first = log.items[:-distance][same_user].astype(np.int32)
            second = log.items[distance:][same_user].astype(np.int32)
            weight = np.sqrt(
                log.weights[:-distance][same_user].astype(np.float64)
                * log.weights[distance:][same_user]
            ).astype(np.float32)
            count = first.size
            rows += [first, second]
            cols += [second, first]
            distances.append(np.full(2 * count, distance, np.int16))
            forward += [np.ones(count, bool), np.zeros(count, bool)]
            weights += [weight, weight]
        self.n_items = n
        if not rows:
            self.entries = 0
            self.indptr = np.zeros(n + 1, np.int64)
            self.columns = np.zeros(0, np.int32)
            self.starts = np.zeros(0, np.int64)
            self.distance = np.zeros(0, np.int16)
            self.forward = np.zeros(0, bool)
            self.weight = np.zeros(0, np.float32)
            return
        row, col = np.concatenate(rows), np.concatenate(cols)
        del rows, cols
        total = row.size
        # Bucket by row, then sort each row's columns, carrying each entry's number
        # (scipy's conversion without summing duplicates: no global sort).
        indptr = np.zeros(n + 1, np.int64 if total > 2**31 - 1 else np.int32)
        columns = np.empty(total, np.int32)
        order = np.empty(total, np.float64)
        _sparsetools.coo_tocsr(
            n, n, total, row, col, np.arange(total, dtype=np.float64), indptr, columns, order
        )
        del row, col
        sorted_matrix = sp.csr_matrix((order, columns, indptr), shape=(n, n))
        sorted_matrix.has_sorted_indices = False
        sorted_matrix.sort_indices()
        position = sorted_matrix.data.astype(np.int64)
        columns, indptr = sorted_matrix.indices, sorted_matrix.indptr.astype(np.int64)
        del sorted_matrix, order
        self.distance = np.concatenate(distances)[position]
        self.forward = np.concatenate(forward)[position]
        self.weight = np.concatenate(weights)[position]
        del position
        # A new (row, other) pair starts where the column changes or a row begins.
        new = np.ones(total, bool)
        new[1:] = columns[1:] != columns[:-1]
        new[indptr[:-1][indptr[:-1] < total]] = True
        self.starts = np.flatnonzero(new)
        self.columns = columns[self.starts]
        pair_row = np.repeat(np.arange(n), np.diff(indptr))[self.starts]
        self.indptr = np.r_[0, np.cumsum(np.bincount(pair_row, minlength=n))].astype(np.int64)
        self.entries = total
        self.max_window = max_window

    def summed(self, window: int, decay: float, backward: float) -> sp.csr_matrix:
        n = self.n_items
        if self.entries == 0:
            return sp.csr_matrix((n, n), dtype=np.float64)
        longest = int(self.distance.max())
        # Per (distance, direction): the decay, 0 beyond the window, x backward.
        table = np.zeros((longest + 1, 2), np.float32)
        reach = min(window, longest)
        decays = np.exp(-(np.arange(1, reach + 1) - 1) / decay)
        table[1 : reach + 1, 1] = decays
        table[1 : reach + 1, 0] = decays * backward
        weight = self.weight * table[self.distance, self.forward.view(np.uint8)]
        data = np.add.reduceat(weight, self.starts).astype(np.float64)
        if reach == longest:  # every pair counts: the structure can be shared
            return sp.csr_matrix((data, self.columns, self.indptr), shape=(n, n))
        matrix = sp.csr_matrix((data, self.columns.copy(), self.indptr.copy()), shape=(n, n))
        matrix.eliminate_zeros()  # pairs only further apart than the window
        return matrix


@dataclass
class Tuning:
    """What `tune` chose, and how it scored on the validation split."""

    config: ensemble.EnsembleConfig
    # NDCG@10 / recall@10 on the validation split: "default" (the service's defaults,
    # sequential only), "sequential", "long_term" and "content" alone (tuned), "chosen".
    validation: dict[str, dict[str, float]]
    trials: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    users: int = 0  # validation users scored
    sampled: float = 1.0  # share of the log's users the tuning used

    def summary(self) -> dict[str, Any]:
        return {
            "sequential": asdict(self.config.sequential),
            "weights": asdict(self.config.weights),
            "validation": self.validation,
            "seconds": round(self.seconds, 3),
            "users": self.users,
            "sampled": self.sampled,
            "trials": len(self.trials),
        }


def tune(
    log: InteractionLog,
    vectors: NDArray[np.floating] | None = None,
    base: ensemble.EnsembleConfig | None = None,
    *,
    budget_seconds: float | None = None,
    max_users: int = 2000,
    max_pair_entries: int = 40_000_000,
    seed: int = 0,
    fixed: Collection[str] = (),
) -> Tuning:
    """Choose the default model's configuration on a validation split of ``log``.

    ``base`` gives the starting point and the settings not tuned (the long-term and
    content models' own settings). The search of the sequential settings stops once
    ``budget_seconds`` have gone since the call (None: no limit); a build passes about
    twice what its last fit took (`budget_for`). The blend's weights are always chosen
    (a few dozen cheap trials), and the chosen blend is never worse on validation than
    the best single source. Sequential settings named in ``fixed`` keep ``base``'s
    values; with "weights" in ``fixed`` the blend keeps ``base``'s weights too."""
    started = time.perf_counter()
    base = base or ensemble.EnsembleConfig()
    trials: list[dict[str, Any]] = []
    max_window = max([base.sequential.window, *(w for w, _ in WINDOW_DECAY)])
    log, sampled = _sample_users(log, max_pair_entries / (2.0 * max_window), seed)
    train, held_out = temporal_holdout(log)
    validation = Validation(train, held_out, max_users, seed)
    if validation.users.size == 0:
        config = replace(base, weights=ensemble.BlendWeights())
        return Tuning(config, {}, [], time.perf_counter() - started, 0, sampled)
    popularity = train.item_weights()
    # The long-term and content scores do not depend on the sequential settings
    # (content's recency is re-applied once they are chosen): fitted once.
    pairs = PairCache(train, max_window)
    taste = long_term.fit(train, base.long_term)
    near = (
        content_neighbours.fit(vectors, popularity, base.content) if vectors is not None else None
    )
    deadline = None if budget_seconds is None else started + budget_seconds
    search = _SequentialSearch(train, pairs, popularity, validation, trials)

    def out_of_time() -> bool:
        return deadline is not None and time.perf_counter() > deadline

    best = search.evaluate("default", base.sequential)
    default_metrics = dict(best[1])
    # The blend is always chosen: keep time for it (shortlists, then cheap trials).
    blends = _blend_candidates(True, near is not None)
    if deadline is not None:
        deadline -= 4.0 * validation.seconds
    # Each stage gives "runs" of candidates from the best so far: a run goes on only
    # while its candidates improve (so a half-life ladder climbs while it pays).
    stages: list[tuple[str, Callable[[knn.SequentialKNNConfig], list[list[Any]]]]] = [
        ("backward", lambda c: [[replace(c, backward=b)] for b in BACKWARD]),
        ("window", lambda c: [[replace(c, window=w, decay=d)] for w, d in WINDOW_DECAY]),
        (
            "half_life",
            lambda c: [
                [
                    replace(c, half_life=h)
                    for h in sorted(HALF_LIFE, reverse=True)
                    if h < c.half_life
                ],
                [replace(c, half_life=h) for h in sorted(HALF_LIFE) if h > c.half_life],
            ],
        ),
        ("alpha", lambda c: [[replace(c, alpha=a)] for a in ALPHA]),
        ("neighbours", lambda c: [[replace(c, neighbours=2 * c.neighbours)]]),
    ]
    for stage, runs in stages:
        for run in runs(best[0]):
            for candidate in run:
                if candidate == best[0] or out_of_time() or _changes(best[0], candidate, fixed):
                    break
                result = search.evaluate(stage, candidate)
                if result[1]["ndcg@10"] <= best[1]["ndcg@10"]:
                    break
                best = result
    sequential_config, sequential_metrics = best
    # The blend: each source's scores for the validation users, computed once.
    parts = {
        "sequential": search.scores_of(sequential_config),
        "long_term": long_term.score_matrix(taste, validation.histories),
    }
    del pairs, search
    if near is not None:
        parts["content"] = content_neighbours.score_matrix(
            near, validation.histories, sequential_config.half_life, sequential_config.history
        )
    # Blends are scored over each user's shortlist: the union of every source's best
    # SHORTLIST items (each normalised by its best score, as a request does).
    columns, normalised = validation.shortlist(parts, SHORTLIST)
    del parts
    sharpened = {
        power: _sharpen(normalised["content"], power)
        for power in CONTENT_SHARPNESS
        if "content" in normalised and power != 1.0
    }
    single = {"sequential": sequential_metrics}
    chosen, chosen_metrics = ensemble.BlendWeights(), sequential_metrics
    if "weights" in fixed:  # the given blend, only measured
        blends = []
        used = {n: base.weights.of(n) for n in normalised if base.weights.of(n) > 0}
        if used:
            power = base.weights.content_sharpness
            if "content" in used and power != 1.0 and power not in sharpened:
                sharpened[power] = _sharpen(normalised["content"], power)
            chosen = base.weights
            chosen_metrics = validation.metrics(
                _blend_normalised(normalised, sharpened, chosen), columns
            )
    for name in normalised if "weights" not in fixed else ():
        if name == "sequential":
            continue
        single[name] = validation.metrics(normalised[name], columns)
        weights = ensemble.BlendWeights(
            **{source: float(source == name) for source in ensemble.SOURCES}
        )
        trials.append({"stage": "blend", **asdict(weights), **single[name]})
        if single[name]["ndcg@10"] > chosen_metrics["ndcg@10"]:  # a source alone may win
            chosen, chosen_metrics = weights, single[name]
    for weights in blends:
        metrics = validation.metrics(_blend_normalised(normalised, sharpened, weights), columns)
        trials.append({"stage": "blend", **asdict(weights), **metrics})
        if metrics["ndcg@10"] > chosen_metrics["ndcg@10"]:
            chosen, chosen_metrics = weights, metrics
    validation_metrics = {"default": default_metrics, **single, "chosen": chosen_metrics}
    config = replace(base, sequential=sequential_config, weights=chosen)
    return Tuning(
        config,
        {name: _rounded(m) for name, m in validation_metrics.items()},
        trials,
        time.perf_counter() - started,
        int(validation.users.size),
        sampled,
    )


def _blend_candidates(long_term: bool, content: bool) -> list[ensemble.BlendWeights]:
    """Mixes of the sources (the sequential one takes the rest), sequential alone
    excluded: a little long-term and content on top of sequential, and content-led
    mixes for catalogues whose attributes say more than their interactions."""
    long_weights = (0.0, *LONG_TERM_WEIGHT) if long_term else (0.0,)
    content_weights = (0.0, *CONTENT_WEIGHT) if content else (0.0,)
    candidates = []
    for long_weight in long_weights:
        for content_weight in content_weights:
            if long_weight == content_weight == 0 or long_weight + content_weight >= 1:
                continue
            small = content_weight <= max(CONTENT_SHARPEN_UP_TO, 0.0)
            for sharpness in CONTENT_SHARPNESS if content_weight > 0 and small else (1.0,):
                candidates.append(
                    ensemble.BlendWeights(
                        sequential=round(1.0 - long_weight - content_weight, 6),
                        long_term=long_weight,
                        content=content_weight,
                        content_sharpness=sharpness,
                    )
                )
    return candidates


def fit(
    log: InteractionLog, vectors: NDArray[np.floating] | None, config: ensemble.EnsembleConfig
) -> ensemble.EnsembleModel:
    """The chosen model trained on the whole log (`ensemble.fit`)."""
    return ensemble.fit(log, vectors, config)


@dataclass
class Built:
    """A full build's model, what its tuning chose (None when not tuned), the sequential
    co-occurrence kept for incremental updates, and what the fit and tuning took."""

    model: ensemble.EnsembleModel
    tuning: Tuning | None
    cooccurrence: sp.csr_matrix | None
    fit_seconds: float

    def config_dict(self) -> dict[str, Any]:
        """The model's configuration as saved with its version, with the tuning's
        summary (what was chosen and its validation metrics) and the fit's time."""
        chosen = self.tuning.validation.get("chosen") if self.tuning else None
        return {
            **ensemble.config_dict(self.model.config),
            "tuning": self.tuning.summary() if self.tuning else None,
            # The chosen settings' validation metrics (what charts of versions show).
            "validation": chosen or {},
            "fit_seconds": round(self.fit_seconds, 3),
        }


def build(
    log: InteractionLog,
    vectors: NDArray[np.floating] | None,
    base: ensemble.EnsembleConfig,
    *,
    tuned: bool = True,
    fixed: Collection[str] = (),
    budget_seconds: float | None = None,
    keep_entries: int = 0,
) -> Built:
    """What a full rebuild trains: ``base`` tuned on the log's validation split (unless
    ``tuned`` is False; see `tune`), then fitted on the whole log, keeping the summed
    sequential co-occurrence when it has at most ``keep_entries`` entries."""
    chosen = tune(log, vectors, base, budget_seconds=budget_seconds, fixed=fixed) if tuned else None
    config = chosen.config if chosen else base
    started = time.perf_counter()
    sequential, kept = knn.fit_keeping(log, config.sequential, keep_entries)
    model = ensemble.fit(log, vectors, config, sequential=sequential)
    return Built(model, chosen, kept, time.perf_counter() - started)


class _SequentialSearch:
    """Validation NDCG of sequential configurations, reusing the pairs, the summed
    co-occurrence (per window, decay, backward) and the neighbour lists (per alpha and
    neighbours as well) between trials."""

    def __init__(
        self,
        train: InteractionLog,
        pairs: PairCache,
        popularity: NDArray[np.float64],
        validation: Validation,
        trials: list[dict[str, Any]],
    ) -> None:
        self.train, self.pairs, self.popularity = train, pairs, popularity
        self.validation, self.trials = validation, trials
        self._summed: dict[tuple, sp.csr_matrix] = {}
        self._ranked: dict[tuple, sp.csr_matrix] = {}
        self._profile_cache: dict[tuple[float, int], sp.csr_matrix] = {}
        # The best configuration's validation scores (users x items, sparse).
        self._best: tuple[knn.SequentialKNNConfig | None, float, sp.csr_matrix | None] = (
            None,
            -1.0,
            None,
        )

    def _profiles(self, config: knn.SequentialKNNConfig) -> sp.csr_matrix:
        """The validation users' recency weights (users x items), as `knn.score_users`
        builds them, kept per (half-life, history)."""
        key = (config.half_life, config.history)
        if key not in self._profile_cache:
            rows, items, weights = [], [], []
            for row, (history, history_weights) in enumerate(self.validation.histories):
                history = history[-config.history :]
                rows.append(np.full(len(history), row, np.int64))
                items.append(history)
                weights.append(knn.profile_weights(history_weights[-config.history :], config))
            self._profile_cache[key] = sp.csr_matrix(
                (np.concatenate(weights), (np.concatenate(rows), np.concatenate(items))),
                shape=(len(self.validation.histories), self.train.n_items),
            )
        return self._profile_cache[key]

    def scores_of(self, config: knn.SequentialKNNConfig) -> sp.csr_matrix:
        assert self._best[0] == config and self._best[2] is not None
        return self._best[2]

    def evaluate(
        self, stage: str, config: knn.SequentialKNNConfig
    ) -> tuple[knn.SequentialKNNConfig, dict[str, float]]:
        started = time.perf_counter()
        best = self._best[0]
        key = _summed_key(config)
        if key not in self._summed:
            # Keep the best configuration's and the latest.
            self._summed = {
                k: v for k, v in self._summed.items() if best and k == _summed_key(best)
            }
            self._summed[key] = self.pairs.summed(*key)
        ranked_key = _ranked_key(config)
        if ranked_key not in self._ranked:
            self._ranked = {
                k: v for k, v in self._ranked.items() if best and k == _ranked_key(best)
            }
            rows = self.validation.recent_items(config.history)
            self._ranked[ranked_key] = knn._strongest(
                self._summed[key], rows, self.popularity, config
            )
        scores = self._profiles(config) @ self._ranked[ranked_key]
        metrics = self.validation.sparse_metrics(scores)
        if metrics["ndcg@10"] > self._best[1]:
            self._best = (config, metrics["ndcg@10"], scores)
        self.trials.append(
            {
                "stage": stage,
                **asdict(config),
                **metrics,
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
        return config, metrics


def _changes(
    config: knn.SequentialKNNConfig, candidate: knn.SequentialKNNConfig, fixed: Collection[str]
) -> bool:
    """Whether ``candidate`` changes a setting named in ``fixed``."""
    return any(
        getattr(config, name) != getattr(candidate, name) for name in fixed if name != "weights"
    )


def _summed_key(config: knn.SequentialKNNConfig) -> tuple[int, float, float]:
    return (config.window, config.decay, config.backward)


def _ranked_key(config: knn.SequentialKNNConfig) -> tuple[Any, ...]:
    return (*_summed_key(config), config.alpha, config.neighbours, config.history)


def _blend_normalised(
    normalised: dict[str, NDArray[np.float64]],
    sharpened: dict[float, NDArray[np.float64]],
    weights: ensemble.BlendWeights,
) -> NDArray[np.float64]:
    """`ensemble.blend` of parts already normalised (content also already sharpened)."""
    used = {name: weights.of(name) for name in normalised if weights.of(name) > 0}
    total = sum(used.values())
    blended = np.zeros_like(next(iter(normalised.values())))
    for name, weight in used.items():
        part = normalised[name]
        if name == "content" and weights.content_sharpness != 1.0:
            part = sharpened[weights.content_sharpness]
        blended += part * (weight / total)
    return blended


def _sharpen(part: NDArray[np.float64], power: float) -> NDArray[np.float64]:
    """``part ** power`` for scores in [0, 1], -inf kept."""
    sharpened = np.power(np.maximum(part, 0.0), power)
    sharpened[np.isneginf(part)] = -np.inf
    return sharpened


def _sample_users(log: InteractionLog, max_rows: float, seed: int) -> tuple[InteractionLog, float]:
    """``log``, or the interactions of a random share of its users when it has more
    than ``max_rows`` rows; and that share."""
    if len(log) <= max_rows:
        return log, 1.0
    share = max_rows / len(log)
    users = np.unique(log.users)
    chosen = np.random.default_rng(seed).random(users.size) < share
    keep = np.zeros(log.n_users, bool)
    keep[users[chosen]] = True
    return log.select(keep[log.users]), share


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 4) for name, value in metrics.items()}


def budget_for(fit_seconds: float, factor: float = 2.0) -> float:
    """A tuning budget of ``factor`` fits (for `tune`'s ``budget_seconds``)."""
    return max(fit_seconds, 0.0) * factor if math.isfinite(fit_seconds) else math.inf
