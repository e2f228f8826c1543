"""The response cache of a worker: answers (status, serialised body) of operations and searches, for
the life of a build.

Keys are what the answer depends on: the path, the query, Accept-Language, and for a POST its body in
one spelling (parsed and written again with sorted keys); for a search also the origin its links
name. An entry weighs one per started 16 KiB of key and answer, and the cache holds at most
`size` (setting cache_size) of weight, least recently used out first: its memory is bounded by
size x 16 KiB, whatever the requests. Swapping in a new build empties it.
"""
import threading

from cachetools import LRUCache

from termsvc.api import metrics

UNIT = 16 * 1024   # bytes of key and answer an entry may hold for a weight of one


def _weight(entry: tuple) -> int:
    return entry[2]


class ResponseCache:
    def __init__(self, size: int):
        self._entries: LRUCache[tuple, tuple[int, bytes, int]] = LRUCache(maxsize=size, getsizeof=_weight)
        self._generation = -1   # the store's build generation the entries are of (it only grows)
        self._lock = threading.Lock()   # granian runs several threads in a worker

    def get(self, key: tuple, generation: int) -> tuple[int, bytes] | None:
        """The (status, body) kept for `key` under the build `generation`, or None."""
        with self._lock:
            self._follow(generation)
            entry = self._entries.get(key)
        if entry is None:
            metrics.TALLY.cache_misses += 1
            return None
        metrics.TALLY.cache_hits += 1
        return entry[0], entry[1]

    def put(self, key: tuple, generation: int, status: int, body: bytes) -> None:
        weight = 1 + (len(body) + sum(len(k) for k in key if k)) // UNIT
        if weight > self._entries.maxsize:
            return
        with self._lock:
            self._follow(generation)
            if generation == self._generation:   # not an answer of a build swapped out since
                self._entries[key] = (status, body, weight)

    def _follow(self, generation: int) -> None:
        if generation > self._generation:
            self._entries.clear()
            self._generation = generation
