"""Serving: granian (Rust HTTP core, one process per worker, WSGI interface).

Each worker process opens its own read-only connections; a swapped-in build is
picked up by every worker on its next request.
"""
import os


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
            log_access=log_access).serve()
