"""Serving: granian (Rust HTTP core, one process per worker, WSGI interface).

Each worker process opens its own read-only connections; a swapped-in build is
picked up by every worker on its next request. The workers get the settings of
`termsvc serve` through their environment (termsvc.settings reads them at start),
and a metrics folder of this run (PROMETHEUS_MULTIPROC_DIR: prometheus-client's
multiprocess mode, so /metrics counts every worker), removed when the server stops.
A worker that dies is replaced (granian's respawn_failed_workers).
"""
import os
import shutil
import tempfile

from granian import Granian
from granian.constants import Interfaces

BACKPRESSURE_PER_THREAD = 16
# on SIGTERM a worker finishes its requests in flight (each bounded by the request time limit), then
# exits; one still busy after this many seconds is killed, so that the server stops within 10 s
SHUTDOWN_GRACE_S = 6
RESPAWN_INTERVAL_S = 1.0   # a dead worker is replaced after this pause


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


def serve(settings, threads: int = 1):
    os.environ.update(settings.environ())
    # before anything imports prometheus-client: it chooses its multiprocess mode at import
    metrics_dir = tempfile.mkdtemp(prefix="termsvc-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        from termsvc.api.app import create_app
        create_app(settings.db)  # fail fast, before forking workers, when the database is missing or broken
        Granian("termsvc.api.wsgi:app", address=settings.host, port=settings.port, interface=Interfaces.WSGI,
                workers=settings.workers or default_workers(), blocking_threads=threads, backlog=2048,
                # bound the requests a worker accepts while its Python thread is busy: past this the
                # connections wait in the socket backlog instead of piling up as tasks that contend for
                # the GIL (measured with scripts/bench.py: about 1.5-2x req/s on 2 cores for operations)
                backpressure=BACKPRESSURE_PER_THREAD * threads,
                respawn_failed_workers=True, respawn_interval=RESPAWN_INTERVAL_S,
                workers_kill_timeout=SHUTDOWN_GRACE_S).serve()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
