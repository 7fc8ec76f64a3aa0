"""Maps outside identifiers (user ids, entity keys) to dense matrix indices and back."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

Key = TypeVar("Key", bound=Hashable)


class Vocabulary(Generic[Key]):
    """An ordered set of keys; a key's index is its position."""

    def __init__(self, keys: Iterable[Key] = ()) -> None:
        self._keys: list[Key] = []
        self._index: dict[Key, int] = {}
        for key in keys:
            self.add(key)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def add(self, key: Key) -> int:
        index = self._index.get(key)
        if index is None:
            index = len(self._keys)
            self._index[key] = index
            self._keys.append(key)
        return index

    def index(self, key: Key) -> int | None:
        return self._index.get(key)

    def indices(self, keys: Sequence[Key]) -> NDArray[np.int64]:
        """Indices of ``keys``, adding the ones not seen before."""
        return np.fromiter((self.add(k) for k in keys), dtype=np.int64, count=len(keys))

    def key(self, index: int) -> Key:
        return self._keys[index]

    @property
    def keys(self) -> list[Key]:
        return list(self._keys)

    def sorted(self) -> tuple[Vocabulary[Key], NDArray[np.int64]]:
        """The same keys numbered in sorted order, and each old index's new one. A
        model numbered this way does not depend on the order its data arrived in (ties
        between items are broken by their numbers)."""
        order = sorted(range(len(self._keys)), key=self._keys.__getitem__)  # type: ignore[arg-type]
        renumbered = np.empty(len(order), np.int64)
        renumbered[np.array(order, np.int64)] = np.arange(len(order))
        return Vocabulary(self._keys[i] for i in order), renumbered
