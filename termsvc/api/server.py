"""Serving: granian (Rust HTTP core, one process per worker, WSGI interface).

Each worker process opens its own read-only connections; a swapped-in build is
picked up by every worker on its next request.
"""
import os

BACKPRESSURE_PER_THREAD = 16
# on SIGTERM a worker finishes its requests in flight (each bounded by the request time limit), then
# exits; one still busy after this many seconds is killed, so that the server stops within 10 s
SHUTDOWN_GRACE_S = 6


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def serve(db_path: str, host: str = "127.0.0.1", port: int = 8080, workers: int | None = None,
          threads: int = 1, log_access: bool = False):
    from granian import Granian
    from granian.constants import Interfaces

    from termsvc.api.app import create_app

    os.environ["TERMSVC_DB"] = os.path.abspath(db_path)
    create_app(db_path)  # fail fast, before forking workers, when the database is missing or broken
    Granian("termsvc.api.wsgi:app", address=host, port=port, interface=Interfaces.WSGI,
            workers=workers or default_workers(), blocking_threads=threads, backlog=2048,
            # bound the requests a worker accepts while its Python thread is busy: past this the
            # connections wait in the socket backlog instead of piling up as tasks that contend for
            # the GIL (measured with scripts/bench.py: about 1.5-2x req/s on 2 cores for operations)
            backpressure=BACKPRESSURE_PER_THREAD * threads,
            workers_kill_timeout=SHUTDOWN_GRACE_S, log_access=log_access).serve()
