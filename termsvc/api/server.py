"""Serving: granian (Rust HTTP core, one process per worker, WSGI interface).

Each worker process opens its own read-only connections; a swapped-in build is
picked up by every worker on its next request. The workers get the settings of
`termsvc serve` through their environment (termsvc.settings reads them at start),
and a metrics folder of this run (PROMETHEUS_MULTIPROC_DIR: prometheus-client's
multiprocess mode, so /metrics counts every worker), removed when the server stops.
A worker that dies is replaced (granian's respawn_failed_workers).

With the setting management_port, /metrics and /admin (and the probes) are served on that
second port by a process of their own, forked before granian starts its workers (so that no
thread of it is ever copied into a worker), and the API port answers 404 for them.

Everything the server writes is JSON lines: the access log on stdout, its own messages and
granian's (start, workers, shutdown) on stderr.
"""
import multiprocessing
import os
import shutil
import signal
import socketserver
import tempfile
from multiprocessing.process import BaseProcess
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from granian import Granian
from granian.constants import Interfaces

BACKPRESSURE_PER_THREAD = 16
# on SIGTERM a worker finishes its requests in flight (each bounded by the request time limit), then
# exits; one still busy after this many seconds is killed, so that the server stops within 10 s
SHUTDOWN_GRACE_S = 6
RESPAWN_INTERVAL_S = 1.0   # a dead worker is replaced after this pause
GRANIAN_LOGGING = {
    "version": 1, "disable_existing_loggers": False,
    "formatters": {"json": {"()": "termsvc.api.observe.JsonLines"}},
    "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "loggers": {name: {"handlers": ["json"], "level": "INFO", "propagate": False}
                for name in ("_granian", "granian.access")},
}


def default_workers(cpu_max: str = "/sys/fs/cgroup/cpu.max") -> int:
    """One per CPU this process may use: its affinity, capped by a container's CPU limit (cgroup v2
    quota; a container sees the host's CPU count otherwise)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open(cpu_max) as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


class _ManagementServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):   # the app writes the access line (JSON)
        pass


def _serve_management(httpd, db: str) -> None:
    """The management port's process: its own app over the same build, on the socket bound by the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C reaches the whole group: granian stops this process
    try:   # and when the parent dies without stopping it (SIGKILL), this process goes too
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    from termsvc.api.app import create_app
    httpd.set_app(create_app(db, management=True))
    httpd.serve_forever()


def start_management(settings) -> BaseProcess:
    """Bind the management port (an error here stops `termsvc serve` at start) and serve it in a child."""
    # (no app yet: the child sets its own, set_app, which typeshed's make_server does not foresee)
    httpd = make_server(settings.host, settings.management_port, None,  # type: ignore[call-overload]
                        server_class=_ManagementServer, handler_class=_QuietHandler)
    child = multiprocessing.get_context("fork").Process(target=_serve_management, args=(httpd, settings.db),
                                                         name="termsvc-management", daemon=True)
    child.start()
    httpd.socket.close()
    return child


def serve(settings, threads: int = 1):
    os.environ.update(settings.environ())
    # before anything imports prometheus-client: it chooses its multiprocess mode at import
    metrics_dir = tempfile.mkdtemp(prefix="termsvc-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    management = None
    try:
        from termsvc.api.app import create_app
        create_app(settings.db)  # fail fast, before forking workers, when the database is missing or broken
        if settings.management_port:
            management = start_management(settings)
        server = Granian("termsvc.api.wsgi:app", address=settings.host, port=settings.port, interface=Interfaces.WSGI,
                         workers=settings.workers or default_workers(), blocking_threads=threads, backlog=2048,
                         # bound the requests a worker accepts while its Python thread is busy: past this the
                         # connections wait in the socket backlog instead of piling up as tasks that contend for
                         # the GIL (measured with scripts/bench.py: about 1.5-2x req/s on 2 cores for operations)
                         backpressure=BACKPRESSURE_PER_THREAD * threads,
                         respawn_failed_workers=True, respawn_interval=RESPAWN_INTERVAL_S,
                         workers_kill_timeout=SHUTDOWN_GRACE_S,
                         log_level=settings.log_level, log_dictconfig=GRANIAN_LOGGING)
        if management is not None:
            server.on_shutdown(management.terminate)
        server.serve()
    finally:
        if management is not None and management.is_alive():
            management.terminate()
            management.join(5)
        shutil.rmtree(metrics_dir, ignore_errors=True)
