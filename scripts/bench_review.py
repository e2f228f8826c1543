#!/usr/bin/env python3
"""Time of the review page (GET /mappings): the overview, each table's page, and the table with its
suggestions as XLSX, on the shipped tables and on a table of N rows without a target.

    .venv/bin/python scripts/bench_review.py                     # build into a temporary folder, measure
    .venv/bin/python scripts/bench_review.py --rows 300 --scope URL --keep /tmp/review-bench

Builds the default content with the shipped tables plus a table of N local names (those of
scripts/bench_suggest.py: regions, modalities and procedures in eight languages, no target) and starts
`termsvc serve` with one worker. Every page is timed on its first request (cold: the worker computes
what it caches per build, the suggestions among it) and as the median of 5 requests after it (warm).
The overview comes first and is timed again after the tables' pages: it computes no suggestions, so
its cold time does not grow with the tables. An answer other than 200 is printed with its status (a
page past the time limit says so with its status, 422).
"""
import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import Server, free_port  # noqa: E402
from bench_suggest import CID4, write_table  # noqa: E402

WARM_RUNS = 5


def get(base: str, path: str) -> tuple[int, float, int]:
    """(status, seconds, bytes) of one GET, on a new connection."""
    host, port = base.removeprefix("http://").split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=120)
    start = time.perf_counter()
    c.request("GET", path, headers={"Accept": "text/html"})
    r = c.getresponse()
    body = r.read()
    took = time.perf_counter() - start
    c.close()
    return r.status, took, len(body)


def measure(base: str, path: str) -> str:
    status, cold, size = get(base, path)
    warm = statistics.median(get(base, path)[1] for _ in range(WARM_RUNS))
    note = "" if status == 200 else f"  (status {status})"
    return f"{path:<58} cold {cold * 1000:8.0f} ms   warm {warm * 1000:7.1f} ms   {size / 1024:7.0f} KiB{note}"


def build(db: str, folder: str) -> None:
    termsvc = os.path.join(os.path.dirname(sys.executable), "termsvc")
    started = time.perf_counter()
    subprocess.run([termsvc, "build", "--db", db, "--quiet", "--mappings", folder, "--allow-mapping-errors"],
                   check=True)
    print(f"built {db} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=300, help="rows of the table without targets (default 300)")
    ap.add_argument("--scope", default=CID4, help="its target_scope (default: DICOM CID 4)")
    ap.add_argument("--keep", default=None, help="a folder for the build and the table, kept (reused when there)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or tmp
        tables = os.path.join(folder, "tables")
        db = os.path.join(folder, "review.db")
        if not os.path.exists(db):
            os.makedirs(tables, exist_ok=True)
            write_table(tables, args.rows, args.scope)
            build(db, tables)
        server = Server(db, free_port(), workers=1, cache_size=None)
        try:
            paths = ["/mappings"]
            paths += [f"/mappings/{name[:-4]}" for name in sorted(os.listdir(os.path.join(HERE, "..", "mappings_csv")))
                      if name.endswith(".csv")]
            paths += ["/mappings/bench", "/mappings/bench/suggestions.xlsx", "/mappings"]
            for path in paths:
                print(measure(server.base, path))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
