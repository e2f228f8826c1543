"""One deadline per request, for all of its work.

The request sets it (`within(limit_ms)`); SQLite's progress handler (see
`store.reader`) and the Python loops of the engine (`check()`) test it, so a
request past its time limit stops wherever it is and frees its worker. The
deadline is per thread: each server thread runs one request at a time.
"""
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from time import monotonic
from types import TracebackType
from typing import Literal, TypeVar

T = TypeVar("T")


class TimeLimitExceeded(Exception):
    """The request ran past its time limit."""

    def __init__(self, limit_ms: float | None):
        self.limit_ms = limit_ms
        super().__init__(f"The request exceeded its time limit of {limit_ms:g} ms" if limit_ms
                         else "The request exceeded its time limit")


class _Local(threading.local):
    # (monotonic() past which the thread's request must stop, its limit in ms): one attribute, so that
    # entering and leaving a deadline touch the thread-local state twice
    state: tuple[float, float | None] = (float("inf"), None)


_local = _Local()


def expired() -> bool:
    """True past the deadline (SQLite's progress handler calls this: a true answer interrupts the query)."""
    return monotonic() > _local.state[0]


def check() -> None:
    """Raise TimeLimitExceeded past the deadline. Cheap enough to call once per concept in a loop."""
    state = _local.state
    if monotonic() > state[0]:
        raise TimeLimitExceeded(state[1])


def bounded(items: Iterable[T], every: int = 32) -> Iterator[T]:
    """Iterate `items`, checking the deadline before the first one and every `every` after it (a
    loop whose single step can be long checks inside the step too)."""
    for i, item in enumerate(items):
        if not i % every:
            state = _local.state
            if monotonic() > state[0]:
                raise TimeLimitExceeded(state[1])
        yield item


@dataclass(slots=True)
class within:
    """`with within(limit_ms):` the block runs under a deadline of limit_ms (None or 0: none; an
    outer, earlier deadline stays). A query SQLite interrupted because of it comes out as
    TimeLimitExceeded. (A class, not a generator: it is entered once per request.)"""
    limit_ms: float | None
    outer: tuple[float, float | None] = (float("inf"), None)

    def __enter__(self) -> None:
        self.outer = outer = _local.state
        if self.limit_ms:
            at = monotonic() + self.limit_ms / 1000.0
            if at < outer[0]:
                _local.state = (at, self.limit_ms)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc_type is None:
            _local.state = self.outer
            return False
        in_force = _local.state[1]
        _local.state = self.outer
        if exc_type is sqlite3.OperationalError and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT:
            raise TimeLimitExceeded(in_force) from exc   # the progress handler stops a query only past the deadline
        return False
