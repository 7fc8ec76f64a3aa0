"""A mapping bounded by the bytes its values take, the least recently read first out:
what a replica keeps of model lists (`item_lists`) and entity rows (`entity_rows`).

These caches are read dozens of times per recommendation, so a read is one lookup in an
``OrderedDict`` (C code) and one move to its end. ``cachetools.LRUCache`` does the same
through five Python calls, which cost about 5 % of an uncached recommendation.

Values must not change once stored: their size is measured when they are stored and
again when they leave.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ByteLRU(Generic[K, V]):
    def __init__(self, max_bytes: int, size: Callable[[V], int]) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0  # held
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: K) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[K]:
        """The keys, least recently read first."""
        return iter(self._entries)

    def get(self, key: K) -> V | None:
        """The value of ``key`` (now the most recently read), or None."""
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        """Keep ``value`` for ``key``, dropping the least recently read values while the
        budget is exceeded; a value larger than the whole budget is not kept."""
        self.pop(key)
        size = self._size(value)
        if size > self.max_bytes:
            return
        entries = self._entries
        while self.bytes + size > self.max_bytes:
            _, oldest = entries.popitem(last=False)
            self.bytes -= self._size(oldest)
        entries[key] = value
        self.bytes += size

    def pop(self, key: K) -> V | None:
        """Forget ``key``; its value, or None when it was not kept."""
        value = self._entries.pop(key, None)
        if value is not None:
            self.bytes -= self._size(value)
        return value

    def drop_where(self, condition: Callable[[K], bool]) -> None:
        """Forget every key for which ``condition(key)`` holds."""
        for key in [key for key in self._entries if condition(key)]:
            self.pop(key)
