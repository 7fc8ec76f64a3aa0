"""Feature vectors from free-form entity attributes (the hashing trick).

Every attribute becomes one or more string features, hashed into a fixed number of
dimensions with a sign bit, then the vector is L2-normalised. Entities that share
attribute values therefore have a high cosine similarity:

* string ``"category": "Electronics"`` -> ``category=electronics``; long strings
  (several words) are also split into word tokens ``name~wireless`` at lower weight;
* list ``"tags": ["audio", "wireless"]`` -> ``tags=audio``, ``tags=wireless``, each
  weighted ``1/sqrt(len)`` so a long tag list does not drown the other attributes;
* number ``"price": 99.99`` -> the bucket of its base-2 logarithm, ``price#7``, plus
  half weight in each neighbouring bucket, so close values stay similar;
* boolean ``"in_stock": true`` -> ``in_stock=true``;
* nested object ``"brand": {"name": "Acme"}`` -> keys flattened as ``brand.name``.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)
_MAX_TOKENS = 64
_TEXT_WEIGHT = 0.5
_MAX_DEPTH = 4


def _features(key: str, value: Any, depth: int = 0) -> Iterator[tuple[str, float]]:
    if value is None:
        return
    if isinstance(value, bool):
        yield f"{key}={'true' if value else 'false'}", 1.0
    elif isinstance(value, int | float):
        if math.isfinite(value):
            bucket = round(math.copysign(math.log2(1.0 + abs(value)), value) * 2)
            yield f"{key}#{bucket}", 1.0
            yield f"{key}#{bucket - 1}", 0.5
            yield f"{key}#{bucket + 1}", 0.5
    elif isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return
        yield f"{key}={text}", 1.0
        words = _WORD_RE.findall(text)[:_MAX_TOKENS]
        if len(words) > 1:
            scale = _TEXT_WEIGHT / math.sqrt(len(words))
            for word in words:
                yield f"{key}~{word}", scale
    elif isinstance(value, list | tuple):
        items = [item for item in value if item is not None][:_MAX_TOKENS]
        if items:
            scale = 1.0 / math.sqrt(len(items))
            for item in items:
                for name, weight in _features(key, item, depth + 1):
                    yield name, weight * scale
    elif isinstance(value, Mapping) and depth < _MAX_DEPTH:
        for sub_key, sub_value in value.items():
            yield from _features(f"{key}.{sub_key}", sub_value, depth + 1)


@lru_cache(maxsize=1 << 16)
def _bucket(feature: str, dimension: int) -> tuple[int, float]:
    """The dimension a feature hashes to, and its sign (CRC-32: stable across runs)."""
    digest = zlib.crc32(feature.encode("utf-8"))
    sign = 1.0 if digest & 1 else -1.0
    return (digest >> 1) % dimension, sign


def extract_features(attributes: Mapping[str, Any], dimension: int) -> NDArray[np.float32]:
    """Hash ``attributes`` into an L2-normalised float32 vector of ``dimension`` values.

    An entity with no usable attributes gets the zero vector.
    """
    sums: dict[int, float] = {}
    for key, value in attributes.items():
        for feature, weight in _features(str(key).lower(), value):
            index, sign = _bucket(feature, dimension)
            sums[index] = sums.get(index, 0.0) + sign * weight
    vector = np.zeros(dimension, dtype=np.float32)
    if sums:
        vector[list(sums)] = list(sums.values())
    return normalise(vector)


def normalise(vector: NDArray[np.float32]) -> NDArray[np.float32]:
    norm = float(np.linalg.norm(vector))
    if norm > 0.0 and math.isfinite(norm):
        vector = vector / norm
    return vector.astype(np.float32, copy=False)


def cosine(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))
