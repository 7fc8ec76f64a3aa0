"""Deterministic, sticky assignment of users to experiment variants.

A user's bucket is a number in [0, 1) drawn from a BLAKE2b hash of the experiment's salt
and the user id: the same on every replica and in every process, for as long as the
experiment keeps its salt. Variants take consecutive ranges of buckets in their order,
each as wide as its share; buckets beyond the last range are the control's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_SCALE = float(2**64)


def bucket(salt: str, user_id: str) -> float:
    """The user's place in [0, 1) for the experiment with ``salt``."""
    digest = hashlib.blake2b(f"{salt}\0{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def assign(salt: str, user_id: str, shares: Sequence[float]) -> int | None:
    """The index of the variant the user falls in, or None for the control."""
    place = bucket(salt, user_id)
    edge = 0.0
    for index, share in enumerate(shares):
        edge += share
        if place < edge:
            return index
    return None
