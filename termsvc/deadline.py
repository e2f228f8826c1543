"""One deadline per request, for all of its work.

The request sets it (`within(limit_ms)`); SQLite's progress handler (see
`store.reader`) and the Python loops of the engine (`check()`) test it, so a
request past its time limit stops wherever it is and frees its worker. The
deadline is per thread: each server thread runs one request at a time.
"""
import sqlite3
import threading
from contextlib import contextmanager
from time import monotonic


class TimeLimitExceeded(Exception):
    """The request ran past its time limit."""

    def __init__(self, limit_ms: float | None):
        self.limit_ms = limit_ms
        super().__init__(f"The request exceeded its time limit of {limit_ms:g} ms" if limit_ms
                         else "The request exceeded its time limit")


class _Local(threading.local):
    at = float("inf")      # monotonic() past which the thread's request must stop
    limit_ms = None


_local = _Local()


def expired() -> bool:
    """True past the deadline (SQLite's progress handler calls this: a true answer interrupts the query)."""
    return monotonic() > _local.at


def check() -> None:
    """Raise TimeLimitExceeded past the deadline. Cheap enough to call once per concept in a loop."""
    if monotonic() > _local.at:
        raise TimeLimitExceeded(_local.limit_ms)


def bounded(items):
    """Iterate `items`, checking the deadline before each one."""
    for item in items:
        if monotonic() > _local.at:
            raise TimeLimitExceeded(_local.limit_ms)
        yield item


@contextmanager
def within(limit_ms: float | None):
    """Run the block under a deadline of limit_ms (None or 0: none). A query SQLite interrupted
    because of it comes out as TimeLimitExceeded."""
    outer = (_local.at, _local.limit_ms)
    if limit_ms and monotonic() + limit_ms / 1000.0 < outer[0]:  # an outer, earlier deadline stays
        _local.at, _local.limit_ms = monotonic() + limit_ms / 1000.0, limit_ms
    try:
        yield
    except sqlite3.OperationalError as e:
        if getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT and expired():
            raise TimeLimitExceeded(_local.limit_ms) from e
        raise
    finally:
        _local.at, _local.limit_ms = outer
