"""Read access to the served build.

Each thread gets its own read-only connection (opened `immutable`: a build file
is never written after it is swapped in, so SQLite can skip locking). A new
build is noticed by the file's inode changing; the next request on each thread
then opens the new file, and every per-build cache is keyed by `generation`.
A connection still open on the old file keeps reading it until it is dropped,
so a request in flight during a swap never fails.
"""
import os
import sqlite3
import threading
import time

from termsvc import deadline
from termsvc.settings import BY_NAME
from termsvc.store.queries import Queries


class Store(Queries):
    def __init__(self, path: str, time_limit_ms: int = BY_NAME["time_limit_ms"].default,
                 build_check_ms: int = BY_NAME["build_check_ms"].default):
        self.path = os.path.abspath(path)
        self.time_limit_ms = time_limit_ms
        self.build_check_s = build_check_ms / 1000
        self._local = threading.local()
        self._ident: tuple[int, int, int] | None = None
        self.generation = 0
        self._check_at = 0.0
        self.refresh(force=True)

    # -- build generations ---------------------------------------------------------
    def _file_ident(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def refresh(self, force: bool = False) -> bool:
        """Notice a swapped-in build (looked for at most every `build_check_ms`). True if it changed."""
        now = time.monotonic()
        if not force and now < self._check_at:
            return False
        self._check_at = now + self.build_check_s
        try:
            ident = self._file_ident()
        except FileNotFoundError:
            return False
        if ident != self._ident:
            self._ident = ident
            self.generation += 1
            return True
        return False

    def conn(self) -> sqlite3.Connection:
        loc = self._local
        c = getattr(loc, "conn", None)
        if c is None or loc.generation != self.generation:
            if c is not None:
                c.close()
            c = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True,
                                check_same_thread=False, cached_statements=512)
            c.execute("PRAGMA cache_size=-64000")
            c.execute("PRAGMA mmap_size=1073741824")
            # one progress handler for the connection's life: it interrupts a query past the
            # deadline of the thread's request
            c.set_progress_handler(deadline.expired, 20_000)
            loc.conn = c
            loc.generation = self.generation
        return c

    def close(self) -> None:
        """Close this thread's connection (the next query opens a new one)."""
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None

    # -- bounded queries -----------------------------------------------------------
    def time_limit(self, limit_ms: int | None = None) -> deadline.within:
        """`with store.time_limit():` the block - its queries and the engine's loops - stops past the
        limit with deadline.TimeLimitExceeded: one deadline per request."""
        return deadline.within(limit_ms or self.time_limit_ms)
