"""The outermost WSGI layer: a request id for every request, one JSON access-log line on stdout, the
request counted for /metrics (which it serves), and the server's own log messages as JSON on stderr.

    {"time": "2026-11-29T15:04:05.123Z", "level": "info", "method": "GET", "path": "/fhir/ConceptMap/$translate",
     "query": "system=...&sourceCode=CT", "operation": "ConceptMap/$translate", "status": 200,
     "duration_ms": 0.143, "request_id": "3f2a9c01-1a"}

Lines are gathered in memory and written by a thread of the worker every 0.2 s (and at exit), several
at a time in writes of at most PIPE_BUF bytes ending with a whole line, so that the lines of several
workers never mix and a request does not pay for a system call.

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
from http import HTTPStatus
from time import perf_counter

import orjson

from termsvc.api import metrics
from termsvc.api.dispatch import PROBE_METHODS, other_method

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
    """JSON lines to a file descriptor, written in batches by a thread of this process."""

    CHUNK = 4096    # PIPE_BUF on Linux: a write up to this size to a pipe is never split
    EVERY_S = 0.2
    MAX_PENDING = 100_000

    def __init__(self, fd: int = 1):
        self.fd = fd
        # append and popleft are atomic: no lock on the hot path; when stdout blocks (nobody reads it)
        # the oldest lines are dropped past MAX_PENDING rather than the worker's memory growing
        self.pending: collections.deque[bytes] = collections.deque(maxlen=self.MAX_PENDING)
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forked)
        atexit.register(self.flush)

    def _forked(self):
        self.pending.clear()
        self.thread = None
        self.lock = threading.Lock()

    def write(self, line: bytes) -> None:
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
            data = b"".join([pending.popleft() for _ in range(len(pending))])
            start, end = 0, len(data)
            while start < end:   # writes of at most CHUNK bytes that end with a line (a longer line alone)
                stop = start + self.CHUNK
                if stop < end:
                    cut = data.rfind(b"\n", start, stop)
                    stop = cut + 1 if cut >= 0 else data.find(b"\n", stop) + 1 or end
                self._write(data[start:stop])
                start = stop

    def _write(self, data: bytes) -> None:
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError:
            pass


ACCESS_LOG = LineWriter(1)


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
        self.min_level = LEVELS[log_level]
        self.access_log = access_log and self.min_level <= LEVELS["error"]
        self.watching = False
        self._ms, self._second, self._stamp = -1000, "", ""
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
            if path == "/metrics" and self.metrics and environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
                result = other_method(start, environ.get("REQUEST_METHOD", ""), path, PROBE_METHODS)
            elif path == "/metrics" and self.metrics:
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
            if self.access_log:
                self._log(environ, path, operation, status, seconds, rid)
        return result

    def _log(self, environ, path, operation, status, seconds, rid):
        if status < 400:
            if self.min_level > 20:
                return
            level = "info"
        else:
            level = "warning" if status < 500 else "error"
            if LEVELS[level] < self.min_level:
                return
        now = time.time()
        ms = int(now * 1000)
        if ms != self._ms:   # one timestamp string per millisecond, one strftime per second
            if ms // 1000 != self._ms // 1000:
                self._second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
            self._ms, self._stamp = ms, f"{self._second}.{ms % 1000:03d}Z"
        query = environ.get("QUERY_STRING")
        if len(path) > MAX_LOGGED:
            path = path[:MAX_LOGGED]
        if query:
            if len(query) > MAX_LOGGED:
                query = query[:MAX_LOGGED]
            entry = {"time": self._stamp, "level": level, "method": environ.get("REQUEST_METHOD"), "path": path,
                     "query": query, "operation": operation, "status": status,
                     "duration_ms": int(seconds * 1e6) / 1000, "request_id": rid}
        else:
            entry = {"time": self._stamp, "level": level, "method": environ.get("REQUEST_METHOD"), "path": path,
                     "operation": operation, "status": status, "duration_ms": int(seconds * 1e6) / 1000,
                     "request_id": rid}
        ACCESS_LOG.write(orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE))
