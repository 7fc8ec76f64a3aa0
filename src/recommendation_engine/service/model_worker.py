"""Training work done in the low-priority worker process (`low_priority.apart`), and what
that process keeps between calls.

Per tenant it keeps the interaction log of the model version last built or updated
there, with the log's summed co-occurrence when that is small enough: an incremental
update then sends only the new rows, and the counts (up to hundreds of megabytes) never
travel between processes nor sit in the serving process. The serving process asks
`holds` first: a worker that was started since (the previous one died, or the service
restarted) holds nothing, and is given the log again (`restore`).

Every function here runs in the worker; each is module-level so that it can be called
there by name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from recommendation_engine.engine import sequential_knn as knn
from recommendation_engine.engine import tuning
from recommendation_engine.engine.log import InteractionLog


@dataclass(frozen=True, slots=True)
class _Kept:
    version: int  # the model version the log was trained into
    log: InteractionLog
    cooccurrence: sp.csr_matrix | None


@dataclass(frozen=True, slots=True)
class Updated:
    """An incremental update's result: the new sequential lists of the ``touched`` items
    (their rows of ``model``), and the size of the log it was computed from."""

    model: knn.ItemNeighbours
    touched: NDArray[np.int64]
    users: int
    items: int
    interactions: int


_kept: dict[str, _Kept] = {}


def holds(tenant_id: str, version: int) -> bool:
    """Whether this process keeps the log of the tenant's model ``version``."""
    found = _kept.get(tenant_id)
    return found is not None and found.version == version


def build(
    tenant_id: str, version: int, log: InteractionLog, *args: Any, **kwargs: Any
) -> tuning.Built:
    """`tuning.build` of the log (the other arguments are its), kept as model
    ``version``'s; the co-occurrence stays here (the result carries none)."""
    _kept.pop(tenant_id, None)
    built = tuning.build(log, *args, **kwargs)
    _kept[tenant_id] = _Kept(version, log, built.cooccurrence)
    return replace(built, cooccurrence=None)


def restore(
    tenant_id: str,
    version: int,
    log: InteractionLog,
    config: knn.SequentialKNNConfig,
    keep_entries: int,
) -> None:
    """Keep ``log`` as model ``version``'s, with its summed co-occurrence when that has
    at most ``keep_entries`` entries."""
    _kept.pop(tenant_id, None)
    summed = knn.summed_cooccurrence(log, config, keep_entries)
    _kept[tenant_id] = _Kept(version, log, summed)


def update(
    tenant_id: str,
    version: int,
    new_version: int,
    new: InteractionLog,
    config: knn.SequentialKNNConfig,
    keep_entries: int,
) -> Updated:
    """Fold the rows of ``new`` (numbered as the kept log, its ``n_users`` and ``n_items``
    the grown vocabularies) into model ``version``'s log; the result is kept as
    ``new_version``'s (its co-occurrence while it has at most ``keep_entries`` entries).
    Raises LookupError when ``version`` is not the one kept."""
    known = _kept.get(tenant_id)
    if known is None or known.version != version:
        raise LookupError(f"model {version} of tenant {tenant_id} is not kept here")
    log, is_new = known.log.extended(
        new.users, new.items, new.weights, new.times, n_users=new.n_users, n_items=new.n_items
    )
    kept = known.cooccurrence
    if kept is not None:
        model, kept, touched = knn.update(known.log, log, config, is_new, kept)
        if kept.nnz > keep_entries:
            kept = None
    else:
        touched = knn.touched_items(log, config, is_new)
        model = knn.fit_items(log, config, touched)
    _kept[tenant_id] = _Kept(new_version, log, kept)
    return Updated(model, touched, log.n_users, log.n_items, len(log))
