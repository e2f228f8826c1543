"""Prometheus metrics at /metrics: requests and latency per operation and status, response-cache hits
and misses, time-limit hits, the build served (termsvc_build_info: only the one served now).

`termsvc serve` runs prometheus-client in multiprocess mode (a PROMETHEUS_MULTIPROC_DIR of its own per
run, see server.py), so one scrape counts every worker. The hot path only adds to plain per-process
tallies (`TALLY`); a thread of each worker moves them into prometheus-client's shared files once a
second (and the worker answering a scrape does it first), which keeps the cost of a request at a
dictionary update instead of several locked writes to memory-mapped files.
"""
import os
import threading
import time
from bisect import bisect_left

from termsvc.store.digest import build_sha256

# seconds; the cached operations answer in ~0.1 ms, the limit is time_limit_ms (5 s by default)
BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BOUNDS = BUCKETS + (float("inf"),)
FLUSH_EVERY_S = 1.0


LATENCY = "termsvc_request_duration_seconds"
LATENCY_HELP = "Time to answer a request, by operation and HTTP status"
LE = tuple("+Inf" if b == float("inf") else repr(b) for b in BOUNDS)   # the buckets' `le` labels
# the histogram's counts as the workers add them: prometheus-client's Histogram takes one observation at a
# time, so its buckets and sum are kept as two counters and shown as the histogram by exposition()
LATENCY_BUCKETS = "termsvc_request_duration_bucket_counts"
LATENCY_SUM = "termsvc_request_duration_sum_seconds"


class Instruments:
    """The prometheus-client metrics. Made on first use in a worker: prometheus-client chooses its
    multiprocess mode from PROMETHEUS_MULTIPROC_DIR when it is imported, which `termsvc serve` sets
    only after the command line has imported termsvc."""

    def __init__(self):
        from prometheus_client import Counter, Gauge

        by_op = ["operation", "status"]
        self.requests = Counter("termsvc_requests", "Requests answered, by operation and HTTP status", by_op)
        self.latency_buckets = Counter(LATENCY_BUCKETS, "Requests per latency bucket (not cumulative)", [*by_op, "le"])
        self.latency_sum = Counter(LATENCY_SUM, "Time spent answering, by operation and HTTP status", by_op)
        self.cache = Counter("termsvc_response_cache", "Response-cache lookups of operations (batch entries"
                             " included) and searches, by result", ["result"])
        self.time_limit = Counter("termsvc_time_limit_hits", "Requests (and batch entries) stopped at their time limit")
        self.build_generation = Gauge("termsvc_build_generation", "Builds the server has switched to since it"
                                      " started (1: the one it started with)", multiprocess_mode="max")
        self.build_loaded = Gauge("termsvc_build_loaded_timestamp_seconds", "When the build served was loaded"
                                  " (Unix time)", multiprocess_mode="max")
        self.build_seconds = Gauge("termsvc_build_duration_seconds", "How long making the build served took",
                                   multiprocess_mode="mostrecent")


_instruments = None


def instruments() -> Instruments:
    global _instruments
    if _instruments is None:
        _instruments = Instruments()
    return _instruments


class Tally:
    """What this process answered since its last flush; plain Python numbers, updated by the request
    thread (one per worker) and read by the flush."""

    def __init__(self):
        self.requests = {}       # (operation, status) -> [n per bucket ..., sum of seconds]
        self.cache_hits = 0
        self.cache_misses = 0
        self.time_limit_hits = 0
        self.flushed = {}        # the same keys: what flush() pushed already

    def request(self, operation: str, status: int, seconds: float) -> None:
        row = self.requests.get((operation, status))
        if row is None:
            row = self.requests[(operation, status)] = [0] * len(BOUNDS) + [0.0]
        row[bisect_left(BOUNDS, seconds)] += 1
        row[-1] += seconds


TALLY = Tally()


class BuildWatch:
    """The build a worker serves, for the gauges: noticed by the flush thread (and by a scrape), hashed
    once per build."""

    def __init__(self):
        self.store = None
        self.generation = None
        self.labels = None

    def update(self) -> None:
        store = self.store
        if store is None:
            return
        store.refresh()
        if store.generation == self.generation:
            return
        generation = store.generation
        try:
            sha256 = build_sha256(store.path)
            built_at = store.meta("built_at") or ""
            seconds = float(store.meta("build_seconds") or 0)
        except Exception:   # a build swapped out under us or unreadable: /ready reports it, retry next time
            return
        m = instruments()
        self.labels = (sha256, built_at)
        m.build_generation.set(generation)
        m.build_loaded.set(time.time())
        m.build_seconds.set(seconds)
        self.generation = generation


BUILD = BuildWatch()
_flush_lock = threading.Lock()
_thread = None


def flush() -> None:
    """Move this process's tallies into prometheus-client (its shared files in multiprocess mode)."""
    with _flush_lock:
        t, m = TALLY, instruments()
        for key, row in list(t.requests.items()):
            now = list(row)
            before = t.flushed.get(key)
            delta = now if before is None else [a - b for a, b in zip(now, before)]
            n = sum(delta[:-1])
            if n:
                m.requests.labels(*key).inc(n)
                for le, count in zip(LE, delta[:-1]):
                    if count:
                        m.latency_buckets.labels(*key, le).inc(count)
                m.latency_sum.labels(*key).inc(delta[-1])
                t.flushed[key] = now
        for result, attr in (("hit", "cache_hits"), ("miss", "cache_misses")):
            n = getattr(t, attr) - t.flushed.get(attr, 0)
            if n:
                m.cache.labels(result).inc(n)
                t.flushed[attr] = t.flushed.get(attr, 0) + n
        n = t.time_limit_hits - t.flushed.get("time_limit_hits", 0)
        if n:
            m.time_limit.inc(n)
            t.flushed["time_limit_hits"] = t.flushed.get("time_limit_hits", 0) + n
        BUILD.update()


def _flush_forever():
    while True:
        time.sleep(FLUSH_EVERY_S)
        try:
            flush()
        except Exception:   # never let the metrics thread die; the next round tries again
            pass


def watch(store) -> None:
    """Start this process's flush thread (once), reporting on `store`'s build."""
    global _thread
    if BUILD.store is not store:   # (another app of this process, over another build: its build is shown)
        BUILD.store, BUILD.generation = store, None
    if _thread is None:
        _thread = threading.Thread(target=_flush_forever, name="termsvc-metrics", daemon=True)
        _thread.start()


def _after_fork():
    """A forked worker starts with empty tallies and a thread of its own."""
    global TALLY, _thread, BUILD, _flush_lock
    TALLY = Tally()
    BUILD = BuildWatch()
    _thread = None
    _flush_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


class ServedBuild:
    """termsvc_build_info: one series, the build this process serves as it answers the scrape (a gauge in
    the shared files would keep a series for every build ever served, until a restart)."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily
        family = GaugeMetricFamily("termsvc_build_info", "The build served: its file's sha256 (what `termsvc pull"
                                   " --sha256` takes) and when it was made (always 1)", labels=["sha256", "built_at"])
        if BUILD.labels is not None:
            family.add_metric(BUILD.labels, 1)
        yield family


class WithLatencyHistogram:
    """The metrics of `source` with the latency counters shown as the histogram they keep."""

    def __init__(self, source):
        self.source = source

    def collect(self):
        from prometheus_client.core import HistogramMetricFamily
        counts, sums = {}, {}
        for family in self.source.collect():
            if family.name not in (LATENCY_BUCKETS, LATENCY_SUM):
                yield family
                continue
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    key = (sample.labels["operation"], sample.labels["status"])
                    if family.name == LATENCY_SUM:
                        sums[key] = sums.get(key, 0.0) + sample.value
                    else:
                        per_le = counts.setdefault(key, {})
                        per_le[sample.labels["le"]] = per_le.get(sample.labels["le"], 0) + sample.value
        histogram = HistogramMetricFamily(LATENCY, LATENCY_HELP, labels=["operation", "status"])
        for key in sorted(counts.keys() | sums.keys()):
            running, buckets = 0.0, []
            for le in LE:
                running += counts.get(key, {}).get(le, 0)
                buckets.append((le, running))
            histogram.add_metric(list(key), buckets, sums.get(key, 0.0))
        yield histogram


def exposition() -> tuple[bytes, str]:
    """(body, content type) of a scrape: every worker's metrics in multiprocess mode, else this process's."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
    flush()
    try:
        source = CollectorRegistry()
        multiprocess.MultiProcessCollector(source)
    except ValueError:   # PROMETHEUS_MULTIPROC_DIR not set: a single process (the tests' Flask client)
        source = REGISTRY
    shown = CollectorRegistry()
    shown.register(WithLatencyHistogram(source))
    shown.register(ServedBuild())
    return generate_latest(shown), CONTENT_TYPE_LATEST
