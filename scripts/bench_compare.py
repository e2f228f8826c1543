#!/usr/bin/env python3
"""The same requests against two versions of termsvc, in one run: is any workload slower?

    git worktree add /tmp/base 3ddfb21 && python3 -m venv /tmp/base/.venv \\
        && /tmp/base/.venv/bin/pip install -e /tmp/base && /tmp/base/.venv/bin/termsvc build --db /tmp/base.db
    .venv/bin/python scripts/bench_compare.py --baseline /tmp/base --baseline-db /tmp/base.db --db /tmp/new.db

The request sets are sampled from the current build (scripts/bench.py's sets), and only the
requests both versions answer 200 are kept (a value set or table one of them lacks would compare
an error with an answer). Each workload runs on the baseline, then on the current version, then on
the baseline again and the current again (wrk at 16 connections, `--seconds` each): the ratio
current / baseline is given for each pair and as their mean, so that drift on a shared machine
shows as a spread between the two pairs rather than as a difference between versions. Both
servers run with the response cache off (every answer computed) unless `--cached`.
"""
import argparse
import http.client
import os
import statistics
import sys
import tempfile
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (the request sets, the server launcher and the wrk driver)


def answered_by_both(bases, paths):
    keep = []
    conns = [http.client.HTTPConnection(urllib.parse.urlsplit(b).hostname, urllib.parse.urlsplit(b).port,
                                        timeout=60) for b in bases]
    for p in paths:
        ok = True
        for c in conns:
            c.request("GET", p, headers={"Accept": "application/fhir+json"})
            r = c.getresponse()
            r.read()
            ok = ok and r.status == 200
        if ok:
            keep.append(p)
    for c in conns:
        c.close()
    return keep


def rps(base, path_file, seconds):
    r = bench.run_wrk(base, path_file, 16, seconds)
    return r["requests"] / (r["duration_us"] / 1e6)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", required=True, help="a checkout of the baseline version with its own .venv")
    ap.add_argument("--baseline-db", required=True, help="a build made by the baseline version")
    ap.add_argument("--db", required=True, help="a build made by the current version (requests are sampled from it)")
    ap.add_argument("--seconds", type=int, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--cached", action="store_true", help="servers with their response cache on")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    sets, _, largest = bench.build_sets(args.db)
    cache = None if args.cached else 0
    current = bench.Server(args.db, bench.free_port(), args.workers, cache)
    saved = sys.executable
    sys.executable = os.path.join(args.baseline, ".venv", "bin", "python")   # Server starts termsvc beside it
    try:
        baseline = bench.Server(args.baseline_db, bench.free_port(), args.workers, cache)
    finally:
        sys.executable = saved
    tmp = tempfile.mkdtemp(prefix="termsvc-compare-")
    rows = []
    try:
        for name in bench.SETS:
            paths = answered_by_both([baseline.base, current.base], sets[name])
            path_file = os.path.join(tmp, name + ".txt")
            with open(path_file, "w") as f:
                f.write("\n".join(paths) + "\n")
            for base in (baseline.base, current.base):
                bench.run_wrk(base, path_file, 16, 1)   # warm-up
            pairs = []
            for _ in range(2):
                b = rps(baseline.base, path_file, args.seconds)
                c = rps(current.base, path_file, args.seconds)
                pairs.append((b, c))
            ratios = [c / b for b, c in pairs]
            rows.append((name, len(paths), len(sets[name]), pairs, ratios))
            print(f"  {name:14s} {len(paths)}/{len(sets[name])} requests  baseline "
                  + " / ".join(f"{b:,.0f}" for b, _ in pairs) + "  current "
                  + " / ".join(f"{c:,.0f}" for _, c in pairs) + "  ratio "
                  + " / ".join(f"{r:.2f}" for r in ratios), file=sys.stderr, flush=True)
    finally:
        baseline.stop()
        current.stop()
    mode = "response cache on" if args.cached else "every answer computed (response cache off)"
    print(f"\ntermsvc, current vs baseline ({args.baseline}), {mode}, {args.workers} workers, wrk 16 connections,"
          f" {args.seconds} s per run; requests sampled from {args.db} (largest value set {largest['url']})\n")
    print("| workload | requests (both answer 200) | baseline req/s | current req/s | current ÷ baseline |")
    print("|---|---:|---:|---:|---:|")
    for name, kept, sampled, pairs, ratios in rows:
        print(f"| {name} | {kept}/{sampled} | " + " / ".join(f"{b:,.0f}" for b, _ in pairs) + " | "
              + " / ".join(f"{c:,.0f}" for _, c in pairs) + f" | {statistics.mean(ratios):.2f}"
              f" ({min(ratios):.2f}-{max(ratios):.2f}) |")


if __name__ == "__main__":
    main()
