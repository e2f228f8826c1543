"""The outermost WSGI layer: a request id for every request, one JSON access-log line on stdout, the
request counted for /metrics (which it serves), and the server's own log messages as JSON on stderr.

    {"time": "2026-11-29T15:04:05.123Z", "level": "info", "method": "GET", "path": "/fhir/ConceptMap/$translate",
     "query": "system=...&sourceCode=CT", "operation": "ConceptMap/$translate", "status": 200,
     "duration_ms": 0.143, "request_id": "3f2a9c01-1a"}

A request leaves its line's values in memory; a thread of the worker makes the lines and writes them every
0.2 s (and at exit), several at a time in writes of at most PIPE_BUF bytes ending with a whole line, so
that the lines of several workers never mix and a request pays neither for a system call nor for making
its line.

The request id is the client's X-Request-Id when it is a plausible one (1-128 characters of
`A-Za-z0-9._~:/+=@-`), else one made here; it is echoed in the X-Request-Id response header. A line's
level is info, warning for a 4xx, error for a 5xx; lines below the setting log_level are not written.
"""
import atexit
import collections
import itertools
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from time import perf_counter
from typing import Any

import orjson

from termsvc.api import metrics

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
REQUEST_ID = re.compile(r"[A-Za-z0-9._~:/+=@-]{1,128}")
MAX_LOGGED = 1024   # characters of a path or query written to the log (a line stays within one atomic write)
RESOURCE_TYPES = ("CodeSystem", "ValueSet", "ConceptMap")
STATUS_CODES = {f"{s.value} {s.phrase}": s.value for s in HTTPStatus}   # the status lines the app writes


def operation_of(method: str, path: str) -> str:
    """The operation label of a request the router did not label: a small, fixed set of values."""
    if path in ("/health", "/ready", "/metrics"):
        return path[1:]
    if path == "/openapi.json":
        return "openapi"
    for prefix in ("/fhir", "/r4/fhir"):
        if path == prefix or path.startswith(prefix + "/"):
            parts = [p for p in path[len(prefix):].split("/") if p]
            if not parts:
                return "batch" if method == "POST" else "other"
            if parts == ["metadata"]:
                return "metadata"
            if parts == ["$versions"]:
                return "versions"
            if parts[0] in RESOURCE_TYPES and len(parts) <= 2:
                return f"{parts[0]}/{'search' if len(parts) == 1 else 'read'}"
            return "other"
    first = path.split("/", 2)[1] if path.startswith("/") else ""
    return first if first in ("admin", "mappings") else "other"


class _Ids:
    """Request ids made here: a random prefix per process and a counter."""

    def __init__(self):
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self):
        self.prefix = os.urandom(4).hex() + "-"
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):x}"


IDS = _Ids()


class LineWriter:
    """Lines to a file descriptor, written in batches by a thread of this process: given as bytes, or as
    values that `render` makes the lines of, many at once (in that thread)."""

    CHUNK = 4096    # PIPE_BUF on Linux: a write up to this size to a pipe is never split
    EVERY_S = 0.2
    MAX_PENDING = 100_000

    def __init__(self, fd: int = 1, render: Callable[[list[Any]], bytes] | None = None):
        self.fd = fd
        self.render = render
        # append and popleft are atomic: no lock on the hot path; when stdout blocks (nobody reads it)
        # the oldest lines are dropped past MAX_PENDING rather than the worker's memory growing
        self.pending: collections.deque[Any] = collections.deque(maxlen=self.MAX_PENDING)
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forked)
        atexit.register(self.flush)

    def _forked(self):
        self.pending.clear()
        self.thread = None
        self.lock = threading.Lock()

    def write(self, line: Any) -> None:
        """Add a line (bytes ending with a newline, or the values `render` takes)."""
        self.pending.append(line)
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="termsvc-access-log", daemon=True)
            self.thread.start()

    def _run(self):
        while True:
            time.sleep(self.EVERY_S)
            self.flush()

    def flush(self) -> None:
        with self.lock:
            pending = self.pending
            items = [pending.popleft() for _ in range(len(pending))]
            if not items:
                return
            data = self.render(items) if self.render is not None else b"".join(items)
            start, end = 0, len(data)
            while start < end:   # writes of at most CHUNK bytes, each ending with a whole line
                stop = start + self.CHUNK
                if stop < end:
                    cut = data.rfind(b"\n", start, stop)
                    stop = cut + 1 if cut >= start else (data.find(b"\n", stop) + 1 or end)   # (a longer line)
                self._write(data[start:stop])
                start = stop

    def _write(self, data: bytes) -> None:
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError:
            pass


class AccessLines:
    """Makes the access-log lines of requests' values: (time.time(), method, path, query, operation, status,
    seconds, request id) each. Used by the writer's thread only: a timestamp is made once per millisecond,
    its date and time once per second; the lines are serialised at once (one JSON array whose objects,
    each beginning with {"time":, are then split into lines: that text never occurs inside a JSON string,
    where a quote is escaped)."""

    def __init__(self):
        self._ms, self._second, self._stamp = -1000, "", ""

    def __call__(self, requests: list[tuple[Any, ...]]) -> bytes:
        entries = []
        last_ms, second, stamp = self._ms, self._second, self._stamp
        for now, method, path, query, operation, status, seconds, rid in requests:
            ms = int(now * 1000)
            if ms != last_ms:
                if ms // 1000 != last_ms // 1000:
                    second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
                last_ms, stamp = ms, f"{second}.{ms % 1000:03d}Z"
            level = "info" if status < 400 else "warning" if status < 500 else "error"
            if len(path) > MAX_LOGGED:
                path = path[:MAX_LOGGED]
            if query:
                if len(query) > MAX_LOGGED:
                    query = query[:MAX_LOGGED]
                entries.append({"time": stamp, "level": level, "method": method, "path": path, "query": query,
                                "operation": operation, "status": status, "duration_ms": int(seconds * 1e6) / 1000,
                                "request_id": rid})
            else:
                entries.append({"time": stamp, "level": level, "method": method, "path": path,
                                "operation": operation, "status": status, "duration_ms": int(seconds * 1e6) / 1000,
                                "request_id": rid})
        self._ms, self._second, self._stamp = last_ms, second, stamp
        if not entries:
            return b""
        return orjson.dumps(entries)[1:-1].replace(b'},{"time":', b'}\n{"time":') + b"\n"


ACCESS_LOG = LineWriter(1, AccessLines())


class JsonLines(logging.Formatter):
    """A log record as one JSON line: time, level, logger, message (and the exception)."""

    def format(self, record):
        entry = {"time": _timestamp(record.created), "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def _timestamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def configure_logging(level: str) -> None:
    """The `termsvc` logger writes JSON lines to stderr from `level` up (once per process)."""
    log = logging.getLogger("termsvc")
    log.setLevel(LEVELS[level])
    if not any(h.get_name() == "termsvc-json" for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLines())
        handler.set_name("termsvc-json")
        log.addHandler(handler)
        log.propagate = False


class Observer:
    """WSGI middleware around the whole app (see the module's description)."""

    def __init__(self, app, store, metrics: bool = True, access_log: bool = True, log_level: str = "info"):
        self.app = app
        self.store = store
        self.metrics = metrics   # serve /metrics (else it is the app's 404: the management port serves it)
        level = LEVELS[log_level]
        # the access log: the lowest status logged (info below 400, warning below 500, error from 500)
        self.logged_from = None if not access_log or level > LEVELS["error"] else \
            500 if level > LEVELS["warning"] else 400 if level > LEVELS["info"] else 0
        self.watching = False
        configure_logging(log_level)

    def __call__(self, environ, start_response):
        started = perf_counter()
        if not self.watching:   # first request of this worker process: its metrics thread
            metrics.watch(self.store)
            self.watching = True
        rid = environ.get("HTTP_X_REQUEST_ID")
        if rid is None or REQUEST_ID.fullmatch(rid) is None:
            rid = IDS.next()
        seen = []

        def start(status, headers, exc_info=None):
            seen.append(status)
            headers.append(("X-Request-Id", rid))
            return start_response(status, headers, exc_info)

        path = environ.get("PATH_INFO", "")
        try:
            if path == "/metrics" and self.metrics:
                body, ctype = metrics.exposition()
                start("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
                result = [body]
            else:
                result = self.app(environ, start)
        finally:
            seconds = perf_counter() - started
            status = (STATUS_CODES.get(seen[-1]) or int(seen[-1][:3])) if seen else 500
            operation = environ.get("termsvc.operation") or operation_of(environ.get("REQUEST_METHOD", ""), path)
            metrics.TALLY.request(operation, status, seconds)
            if self.logged_from is not None and status >= self.logged_from:
                ACCESS_LOG.write((time.time(), environ.get("REQUEST_METHOD"), path, environ.get("QUERY_STRING"),
                                  operation, status, seconds, rid))
        return result
