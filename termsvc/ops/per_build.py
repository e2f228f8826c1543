"""A value made once per build of a store and read on the hot path without a lock.

`build_cached` (ops/context.py) keeps many values per build in a locked LRU; the few values every request
of an operation reads (its index of the stored resources) are kept here instead, one `PerBuild` each:
reading one is a dict lookup, an identity test and an integer comparison. Two threads that find it stale
at once both make it and one of the two is kept, so `make` must not have side effects.
"""
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from termsvc.store.queries import Queries

T = TypeVar("T")

MAX_STORES = 8   # stores of one process (tests open many); past this the values are made again


class PerBuild(Generic[T]):
    def __init__(self, make: Callable[[Any], T]):
        self.make = make
        self._held: dict[int, tuple[Queries, int, T]] = {}   # id(store) -> (store, its generation, the value)

    def get(self, store: Queries) -> T:
        held = self._held.get(id(store))
        if held is not None and held[0] is store and held[1] == store.generation:
            return held[2]
        generation = store.generation
        value = self.make(store)
        if len(self._held) >= MAX_STORES:
            self._held.clear()
        self._held[id(store)] = (store, generation, value)
        return value
