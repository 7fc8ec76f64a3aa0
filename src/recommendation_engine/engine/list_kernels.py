"""The compiled loops of the ranking pipeline (`engine.ranking`), with numba.

A user's history reaches tens of thousands of (item, score) pairs through its items'
lists, spread over a catalogue of up to millions of items. These loops sum them in one
pass with a per-thread scratch index of the catalogue's size (reset after each call, so
no call pays for the catalogue's size), and pick the best few items without sorting the
rest. `ranking.score_history` and `ranking.Scored` call them; `rows_top` picks the best
of many users' rows at once, for the tuning's validation (`tuning.Validation.top`).

Compiled once and cached on disk by numba (about 3 s; loading the cache takes well under
one): in ``NUMBA_CACHE_DIR`` when set, else next to this file, else in the user's cache
directory, else (a read-only file system) in the temporary directory. `warm` compiles
or loads them before the service takes requests.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import numba
import numpy as np
from numpy.typing import NDArray


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError:
        return False
    return True


def _choose_cache_dir() -> None:
    """Where numba keeps the compiled loops, when neither place it looks for by itself
    (next to this file, the user's cache directory) can be written."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    home_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    if _writable(Path(__file__).parent / "__pycache__") or _writable(home_cache / "numba"):
        return
    numba.config.CACHE_DIR = str(Path(tempfile.gettempdir()) / f"numba-cache-{os.getuid()}")


_choose_cache_dir()

# Sources, in the order the pipeline adds them (ranking.SOURCES).
N_SOURCES = 3
CONTENT = 2


class _Scratch(threading.local):
    """Per thread: the slot of each item in the current call's compact arrays (-1: none)."""

    def __init__(self) -> None:
        self.slots = np.full(0, -1, np.int32)


_scratch = _Scratch()


def slots(size: int) -> NDArray[np.int32]:
    """This thread's scratch index, at least ``size`` long, every entry -1."""
    found = _scratch.slots
    if found.size < size:
        found = _scratch.slots = np.full(max(size, 2 * found.size), -1, np.int32)
    return found


@numba.njit(cache=True, nogil=True)
def block_weights(  # pragma: no cover - compiled
    slot: NDArray[np.int32],
    items: NDArray[np.int64],
    weights: NDArray[np.float64],
    blocks: NDArray[np.int64],
    factors: NDArray[np.float64],
    recent_history: int,
    half_life: float,
    long_history: int,
) -> NDArray[np.float64]:
    """What the entries ``blocks`` of a chronological history (oldest first: model
    ``items`` of interaction ``weights``, all positive) add to each source that takes
    part (``factors[s] > 0``), one row per source: the sequential and content sources
    weigh the latest ``recent_history`` entries by interaction weight and recency (half
    as much every ``half_life`` entries back); the long-term source counts the latest
    entry of each item among the latest ``long_history`` entries once. ``slot`` is
    longer than every item."""
    n = items.size
    out = np.zeros((N_SOURCES, blocks.size))
    if factors[0] > 0 or factors[CONTENT] > 0:
        start = max(0, n - recent_history)
        for b in range(blocks.size):
            e = blocks[b]
            if e >= start:
                weight = weights[e] * 0.5 ** ((n - 1 - e) / half_life)
                if factors[0] > 0:
                    out[0, b] = weight
                if factors[CONTENT] > 0:
                    out[CONTENT, b] = weight
    if factors[1] > 0:
        start = max(0, n - long_history)
        latest = np.zeros(n, np.bool_)
        for e in range(n - 1, start - 1, -1):  # the latest first; items marked -2
            item = items[e]
            if item >= 0 and slot[item] == -1:
                slot[item] = -2
                latest[e] = True
        for e in range(start, n):
            if latest[e]:
                slot[items[e]] = -1
        for b in range(blocks.size):
            if latest[blocks[b]]:
                out[1, b] = 1.0
    return out


@numba.njit(cache=True, nogil=True)
def accumulate(  # pragma: no cover - compiled
    slot: NDArray[np.int32],
    block_start: NDArray[np.int64],
    bounds: NDArray[np.int64],
    weights: NDArray[np.float64],
    items: NDArray[np.int32],
    scores: NDArray[np.floating],
    seen: NDArray[np.int64],
    factors: NDArray[np.float64],
    sharpness: float,
) -> tuple[
    NDArray[np.int64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
]:
    """Sum each source's lists over the blocks (block ``b`` is ``items[block_start[b]:
    block_start[b + 1]]``, source ``s`` from ``bounds[b, s]`` to ``bounds[b, s + 1]``
    within it, its scores times ``weights[s, b]``), leave out ``seen``, scale each source
    by its best item, sharpen content, weigh by ``factors``. Returns the items with a
    positive score, their scores, collaborative and content shares, and each source's
    scale (0: not used)."""
    n_blocks = bounds.shape[0]
    total = block_start[n_blocks]
    reached = np.empty(total, np.int64)
    sums = np.empty((total, N_SOURCES))
    n = 0
    for s in range(N_SOURCES):
        if factors[s] <= 0:
            continue
        for b in range(n_blocks):
            w = weights[s, b]
            if w <= 0:
                continue
            base = block_start[b]
            for j in range(base + bounds[b, s], base + bounds[b, s + 1]):
                item = items[j]
                k = slot[item]
                if k < 0:
                    k = n
                    slot[item] = k
                    reached[k] = item
                    for t in range(N_SOURCES):
                        sums[k, t] = 0.0
                    n += 1
                sums[k, s] += scores[j] * w
    left_out = np.zeros(n, np.bool_)
    for item in seen:
        if 0 <= item < slot.size and slot[item] >= 0:
            left_out[slot[item]] = True
    for k in range(n):
        slot[reached[k]] = -1
    # Each source's best unseen sum (0 when it reaches nothing positive).
    best = np.zeros(N_SOURCES)
    for k in range(n):
        if not left_out[k]:
            for t in range(N_SOURCES):
                if sums[k, t] > best[t]:
                    best[t] = sums[k, t]
    scale = np.zeros(N_SOURCES)
    for t in range(N_SOURCES):
        if factors[t] > 0 and best[t] > 0:
            scale[t] = factors[t] / best[t]
    sharpen = sharpness != 1.0 and scale[CONTENT] > 0
    out_items = np.empty(n, np.int64)
    out_scores = np.empty(n)
    out_collaborative = np.empty(n)
    out_content = np.empty(n)
    c = 0
    for k in range(n):
        if left_out[k]:
            continue
        collaborative = max(sums[k, 0], 0.0) * scale[0] + max(sums[k, 1], 0.0) * scale[1]
        if sharpen:
            # Most items reach no content list: their 0 stays 0 without the costly power.
            content = 0.0
            if sums[k, CONTENT] > 0 or sharpness <= 0:
                content = (max(sums[k, CONTENT], 0.0) / best[CONTENT]) ** sharpness
                content *= factors[CONTENT]
        else:
            content = max(sums[k, CONTENT], 0.0) * scale[CONTENT]
        score = collaborative + content
        if score > 0:
            out_items[c] = reached[k]
            out_scores[c] = score
            out_collaborative[c] = collaborative
            out_content[c] = content
            c += 1
    return out_items[:c], out_scores[:c], out_collaborative[:c], out_content[:c], scale


@numba.njit(cache=True, nogil=True)
def _better(score_a: float, item_a: int, score_b: float, item_b: int) -> bool:  # pragma: no cover
    return score_a > score_b or (score_a == score_b and item_a < item_b)


@numba.njit(cache=True, nogil=True)
def _sift_down(  # pragma: no cover - compiled
    heap: NDArray[np.int64],
    size: int,
    scores: NDArray[np.float64],
    items: NDArray[np.int64],
) -> None:
    """Move the root of a min-heap (the worst kept at the root) of ``size`` positions
    down to its place."""
    parent = 0
    while True:
        worst = parent
        for child in (2 * parent + 1, 2 * parent + 2):
            if child < size:
                a, b = heap[child], heap[worst]
                if _better(scores[b], items[b], scores[a], items[a]):
                    worst = child
        if worst == parent:
            return
        heap[parent], heap[worst] = heap[worst], heap[parent]
        parent = worst


@numba.njit(cache=True, nogil=True)
def top(  # pragma: no cover - compiled
    scores: NDArray[np.float64], items: NDArray[np.int64], limit: int
) -> NDArray[np.int64]:
    """Positions of the best ``limit`` scores, best first, ties by item number."""
    n = scores.size
    limit = min(limit, n)
    heap = np.empty(limit, np.int64)  # a min-heap: the worst kept at the root
    size = 0
    for p in range(n):
        if size < limit:
            heap[size] = p
            child = size
            size += 1
            while child > 0:
                parent = (child - 1) // 2
                a, b = heap[child], heap[parent]
                if _better(scores[b], items[b], scores[a], items[a]):
                    heap[child], heap[parent] = b, a
                    child = parent
                else:
                    break
        else:
            root = heap[0]
            if _better(scores[p], items[p], scores[root], items[root]):
                heap[0] = p
                _sift_down(heap, size, scores, items)
    # Best first: repeatedly take the root (the worst) to the end.
    out = np.empty(size, np.int64)
    for end in range(size - 1, -1, -1):
        out[end] = heap[0]
        heap[0] = heap[end]
        _sift_down(heap, end, scores, items)
    return out


@numba.njit(cache=True, nogil=True)
def rows_top(  # pragma: no cover - compiled
    indptr: NDArray[np.int64],
    items: NDArray[np.integer],
    scores: NDArray[np.floating],
    limit: int,
    excluded_indptr: NDArray[np.int64],
    excluded: NDArray[np.integer],
    n_items: int,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """`top` of each row of a CSR matrix (``indptr``, ``items``, ``scores``) among its
    positive scores, leaving out the row's ``excluded`` items (a CSR structure too):
    each row's best ``limit`` items and their scores, best first (-1 and -inf pad)."""
    n = indptr.size - 1
    out_items = np.full((n, limit), -1, np.int64)
    out_scores = np.full((n, limit), -np.inf)
    marked = np.zeros(n_items, np.bool_)
    longest = 0
    for row in range(n):
        longest = max(longest, indptr[row + 1] - indptr[row])
    kept_items = np.empty(longest, np.int64)
    kept_scores = np.empty(longest, np.float64)
    for row in range(n):
        for j in range(excluded_indptr[row], excluded_indptr[row + 1]):
            marked[excluded[j]] = True
        count = 0
        for j in range(indptr[row], indptr[row + 1]):
            if scores[j] > 0 and not marked[items[j]]:
                kept_items[count] = items[j]
                kept_scores[count] = scores[j]
                count += 1
        chosen = top(kept_scores[:count], kept_items[:count], limit)
        for j in range(chosen.size):
            out_items[row, j] = kept_items[chosen[j]]
            out_scores[row, j] = kept_scores[chosen[j]]
        for j in range(excluded_indptr[row], excluded_indptr[row + 1]):
            marked[excluded[j]] = False
    return out_items, out_scores


@numba.njit(cache=True, nogil=True)
def because(  # pragma: no cover - compiled
    slot: NDArray[np.int32],
    wanted: NDArray[np.int64],
    block_entry: NDArray[np.int64],
    block_start: NDArray[np.int64],
    bounds: NDArray[np.int64],
    weights: NDArray[np.float64],
    items: NDArray[np.int32],
    scores: NDArray[np.floating],
    scale: NDArray[np.float64],
    n_entries: int,
    limit: int,
) -> NDArray[np.int64]:
    """For each of ``wanted`` (distinct items), the (up to ``limit``) entries whose
    scaled contributions to it (blocks as in `accumulate`, block ``b`` on behalf of entry
    ``block_entry[b]``) sum largest, largest first, ties by first contribution (sources
    in order, then blocks); -1 pads. ``slot`` is longer than every item of ``wanted``
    and ``items``."""
    n_wanted = wanted.size
    for w in range(n_wanted):
        slot[wanted[w]] = w
    sums = np.zeros((n_wanted, n_entries))
    first = np.full((n_wanted, n_entries), -1, np.int64)
    order = 0
    for s in range(N_SOURCES):
        factor = scale[s]
        if factor == 0.0:
            continue
        for b in range(bounds.shape[0]):
            weight = weights[s, b]
            if weight <= 0:
                continue
            e = block_entry[b]
            base = block_start[b]
            for j in range(base + bounds[b, s], base + bounds[b, s + 1]):
                w = slot[items[j]]
                if w >= 0:
                    sums[w, e] += (scores[j] * weight) * factor
                    if first[w, e] < 0:
                        first[w, e] = order
                order += 1
    for w in range(n_wanted):
        slot[wanted[w]] = -1
    out = np.full((n_wanted, limit), -1, np.int64)
    for w in range(n_wanted):
        for r in range(limit):
            best = -1
            for e in range(n_entries):
                if first[w, e] < 0:
                    continue
                taken = False
                for q in range(r):
                    if out[w, q] == e:
                        taken = True
                        break
                if taken:
                    continue
                if (
                    best < 0
                    or sums[w, e] > sums[w, best]
                    or (sums[w, e] == sums[w, best] and first[w, e] < first[w, best])
                ):
                    best = e
            if best < 0:
                break
            out[w, r] = best
    return out


def warm() -> None:
    """Compile (or load from the cache) every loop, before a request needs them."""
    slot = slots(4)
    block_start = np.array([0, 2], np.int64)
    bounds = np.array([[0, 2, 2, 2]], np.int64)
    weights = np.ones((N_SOURCES, 1))
    items = np.array([1, 2], np.int32)
    block_weights(
        slot, np.array([1], np.int64), np.ones(1), np.zeros(1, np.int64), np.ones(N_SOURCES),
        1, 1.0, 1,
    )  # fmt: skip
    for scores in (np.array([1.0, 0.5], np.float32), np.array([1.0, 0.5])):
        found = accumulate(
            slot, block_start, bounds, weights, items, scores,
            np.zeros(0, np.int64), np.ones(N_SOURCES), 1.0,
        )  # fmt: skip
        top(found[1], found[0], 1)
        because(
            slot, found[0], np.zeros(1, np.int64), block_start, bounds, weights, items,
            scores, found[4], 1, 3,
        )  # fmt: skip
