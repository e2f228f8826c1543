#!/usr/bin/env python3
"""The same requests against two versions of termsvc, in one run: is any workload slower?

    git worktree add /tmp/base-9114807 9114807 && python3 -m venv /tmp/base-9114807/.venv \\
        && /tmp/base-9114807/.venv/bin/pip install -e /tmp/base-9114807 \\
        && /tmp/base-9114807/.venv/bin/termsvc build --db /tmp/base.db
    .venv/bin/python scripts/bench_compare.py --baseline /tmp/base-9114807 --baseline-db /tmp/base.db --db /tmp/new.db

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
        statuses = [bench.send(c, p)[0] for c in conns]   # each version asked, whatever the others answer
        if all(status == 200 for status in statuses):
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
    ap.add_argument("--modes", default="uncached", help="uncached (response cache off), cached, or both:"
                                                         " uncached,cached (default uncached)")
    ap.add_argument("--cached", action="store_true", help="the same as --modes cached")
    ap.add_argument("--sets", default=",".join(bench.SETS), help="comma-separated workloads (default: all)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    modes = ["cached"] if args.cached else [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"cached", "uncached"}:
        raise SystemExit(f"bench_compare: --modes: uncached and/or cached, not {args.modes!r}")
    names = [n for n in bench.SETS if n in args.sets.split(",")]

    sets, _, largest = bench.build_sets(args.db)
    tmp = tempfile.mkdtemp(prefix="termsvc-compare-")
    print(f"termsvc, current vs baseline ({args.baseline}), {args.workers} workers, wrk 16 connections,"
          f" {args.seconds} s per run; requests sampled from {args.db} (largest value set {largest['url']})",
          flush=True)
    slower = []
    for mode in modes:
        rows = compare(args, sets, names, None if mode == "cached" else 0, tmp)
        print(f"\n{'response cache on' if mode == 'cached' else 'every answer computed (response cache off)'}:\n")
        print("| workload | requests (both answer 200) | baseline req/s | current req/s | current ÷ baseline |")
        print("|---|---:|---:|---:|---:|")
        for name, kept, sampled, pairs, ratios in rows:
            print(f"| {name} | {kept}/{sampled} | " + " / ".join(f"{b:,.0f}" for b, _ in pairs) + " | "
                  + " / ".join(f"{c:,.0f}" for _, c in pairs) + f" | {statistics.mean(ratios):.2f}"
                  f" ({min(ratios):.2f}-{max(ratios):.2f}) |", flush=True)
            if statistics.mean(ratios) < 1:
                slower.append(f"{name} ({mode}) {statistics.mean(ratios):.2f}")
    print("\nslower than the baseline: " + (", ".join(slower) if slower else "none"))
    return 1 if slower else 0


def compare(args, sets, names, cache, tmp):
    """[(workload, requests kept, requests sampled, [(baseline, current) req/s] x2, [ratio] x2)] of
    one mode (`cache`: the servers' TERMSVC_CACHE_SIZE, None for their default)."""
    current = bench.Server(args.db, bench.free_port(), args.workers, cache)
    saved = sys.executable
    sys.executable = os.path.join(args.baseline, ".venv", "bin", "python")   # Server starts termsvc beside it
    try:
        baseline = bench.Server(args.baseline_db, bench.free_port(), args.workers, cache)
    finally:
        sys.executable = saved
    rows = []
    try:
        for name in names:
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
    return rows


if __name__ == "__main__":
    sys.exit(main())
